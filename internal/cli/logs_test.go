package cli

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/quai-dev/quai/internal/wire"
)

type sliceLines []wire.LogLine

func (s *sliceLines) Next() (wire.LogLine, error) {
	if len(*s) == 0 {
		return wire.LogLine{}, io.EOF
	}
	l := (*s)[0]
	*s = (*s)[1:]
	return l, nil
}

func TestLogPrinterColoursPrefixesByService(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lines := sliceLines{
		{Time: at, Service: "web", Replica: "web-r1-1", Line: "a"},
		{Time: at, Service: "worker", Replica: "worker-r1-1", Line: "b"},
		{Time: at, Service: "web", Replica: "web-r1-2", Line: "c"},
	}
	var out strings.Builder
	p := &logPrinter{w: bufio.NewWriter(&out), prefix: true, color: true}
	if err := p.print(&lines); err != nil {
		t.Fatal(err)
	}
	web, worker := "\x1b["+serviceColor("web")+"m", "\x1b["+serviceColor("worker")+"m"
	want := web + "web-r1-1 | \x1b[0ma\n" + worker + "worker-r1-1 | \x1b[0mb\n" + web + "web-r1-2    | \x1b[0mc\n"
	if out.String() != want {
		t.Errorf("printed %q, want %q", out.String(), want)
	}
	if serviceColor("web") == serviceColor("worker") {
		t.Error("web and worker have the same colour")
	}
}
