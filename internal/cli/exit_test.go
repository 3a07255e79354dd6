package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/wire"
)

// TestExitCodes runs each kind of failure through the CLI against a real
// daemon and checks its exit code, its message and, with --json, its JSON
// error on stderr.
func TestExitCodes(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	dir := daemontest.AppProject(t, daemontest.App{Project: "exits", Worker: true})
	mustRun(t, d, "up", dir, "-y")

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"unknown verb", []string{"bogus"}, cli.ExitUsage, []string{`unknown command "bogus"`, "`quai --help`"}},
		{"missing argument", []string{"down"}, cli.ExitUsage, []string{"quai down needs an INSTANCE here", "`quai down --help`"}},
		{"too many arguments", []string{"status", "a", "b"}, cli.ExitUsage, []string{"accepts at most 1 arg(s), received 2", "`quai status --help`"}},
		{"unknown flag", []string{"status", "exits-dev", "--bogus"}, cli.ExitUsage, []string{"unknown flag: --bogus"}},
		{"bad flag value", []string{"logs", "exits-dev", "--tail", "-1"}, cli.ExitUsage, []string{"cannot be negative"}},
		{"rm without a terminal or -y", []string{"rm", "exits-dev"}, cli.ExitUsage, []string{"pass -y"}},
		{"invalid stack", []string{"up", projectWith(t, "services:\n  web:\n    image: nginx\n    sise: 3\n"), "-y"}, cli.ExitUsage, []string{"sise"}},
		{"no compose file", []string{"up", t.TempDir(), "-y"}, cli.ExitNotFound, []string{"has no compose file"}},
		{"status of an unknown instance", []string{"status", "exits-dve"}, cli.ExitNotFound, []string{"did you mean exits-dev?"}},
		{"down of an unknown instance", []string{"down", "exits-dve"}, cli.ExitNotFound, []string{"did you mean exits-dev?"}},
		{"rm of an unknown instance", []string{"rm", "exits-dve", "-y"}, cli.ExitNotFound, []string{"did you mean exits-dev?"}},
		{"restart of an unknown instance", []string{"restart", "exits-dve"}, cli.ExitNotFound, []string{"did you mean exits-dev?"}},
		{"rollback of an unknown instance", []string{"rollback", "exits-dve"}, cli.ExitNotFound, []string{"did you mean exits-dev?"}},
		{"logs of an unknown instance", []string{"logs", "exits-dve"}, cli.ExitNotFound, []string{"did you mean exits-dev?"}},
		{"releases of an unknown instance", []string{"releases", "exits-dve"}, cli.ExitNotFound, []string{"did you mean exits-dev?"}},
		{"exec in an unknown instance", []string{"exec", "exits-dve", "web", "--", "true"}, cli.ExitNotFound, []string{"did you mean exits-dev?"}},
		{"logs of an unknown service", []string{"logs", "exits-dev", "wbe"}, cli.ExitNotFound, []string{`service "wbe" not found`, "did you mean web?"}},
		{"restart of an unknown service", []string{"restart", "exits-dev", "wrker"}, cli.ExitNotFound, []string{"did you mean worker?"}},
		{"rollback to a release that does not exist", []string{"rollback", "exits-dev", "--to", "42"}, cli.ExitNotFound, []string{"no release 42"}},
		{"exec -it without a terminal", []string{"exec", "-it", "exits-dev", "web"}, cli.ExitUsage, []string{"exec -it needs a terminal on stdin", "quai exec -i exits-dev web -- CMD < file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, d, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d", r.code, tc.code)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q", want)
				}
			}
			// A suggestion is made once.
			if strings.Count(r.stderr, "exits-dev?") > 1 || strings.Count(r.stderr, "web?") > 1 {
				t.Errorf("a suggestion is repeated")
			}

			js := run(t, d, append([]string{"--json"}, tc.args...)...)
			if js.code != tc.code {
				t.Errorf("with --json: exit %d, want %d", js.code, tc.code)
			}
			var body wire.ErrorBody
			if err := json.Unmarshal([]byte(js.stderr), &body); err != nil || body.Error.Code == "" || body.Error.Message == "" {
				t.Errorf("with --json, stderr is not one JSON error with a code and a message: %v", err)
			}
			if want := codeOf(tc.code); !slices.Contains(want, body.Error.Code) {
				t.Errorf("JSON error code %q, want one of %q", body.Error.Code, want)
			}
		})
	}
}

// projectWith writes compose as a project's compose.yaml.
func projectWith(t *testing.T, compose string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// codeOf is the JSON error codes the table of exit codes gives for code.
func codeOf(code int) []string {
	for _, c := range cli.ExitCodes {
		if c.Code == code {
			return c.ErrorCodes
		}
	}
	return nil
}

func TestExitCodeDaemonUnavailable(t *testing.T) {
	t.Setenv("QUAI_NO_AUTOSTART", "1")
	sock := filepath.Join(t.TempDir(), "none.sock")
	r := run(t, nil, "--json", "status", "shop-dev", "--socket", sock)
	var body wire.ErrorBody
	if r.code != cli.ExitUnavailable || json.Unmarshal([]byte(r.stderr), &body) != nil || body.Error.Code != wire.CodeUnavailable {
		t.Errorf("exit %d, stderr %q; want exit 4 and a JSON error with code unavailable", r.code, r.stderr)
	}
}

func TestVersionFlag(t *testing.T) {
	flag := mustRun(t, nil, "--version")
	verb := mustRun(t, nil, "version")
	if flag.stdout != verb.stdout || !strings.HasPrefix(flag.stdout, "quai ") {
		t.Errorf("--version printed %q, version %q; want the same line", flag.stdout, verb.stdout)
	}
}

// TestPromptsAskAgain: an answer a prompt cannot use is asked again, three
// times at most; then, as after a no, the verb exits ExitDeclined having
// changed nothing.
func TestPromptsAskAgain(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	term := openTerminal(t)
	dir := daemontest.AppProject(t, daemontest.App{Project: "ask"})

	const prompt = "Apply this plan to ask-dev? [y/N]"
	wait := term.start(d, "up", dir)
	term.answer(prompt, "maybe")
	term.answer(prompt, "n")
	if code := wait(); code != cli.ExitDeclined || !term.shows("canceled; nothing changed") ||
		strings.Count(term.text(), "please answer y or n") != 1 || strings.Count(term.text(), prompt) != 2 {
		t.Errorf("up answered maybe, then n: exit %d; want 5 after asking twice", code)
	}

	// The answers are typed ahead, as a terminal allows.
	wait = term.start(d, "up", dir)
	for range 3 {
		term.answer(prompt, "sure")
	}
	if code := wait(); code != cli.ExitDeclined || !term.shows("no valid answer after 3 tries") || strings.Count(term.text(), prompt) != 3 {
		t.Errorf("up answered badly three times: exit %d; want 5 after asking three times", code)
	}
	if _, err := d.Client.Status(t.Context(), "ask-dev"); err == nil {
		t.Fatal("up installed the instance without a yes")
	}

	wait = term.start(d, "up", dir)
	term.answer(prompt, "yes please")
	term.answer(prompt, "y")
	if code := wait(); code != 0 {
		t.Errorf("up answered badly, then y: exit %d; want 0", code)
	}
}

// TestCompletion: the shell's completion asks the daemon for instance,
// service, release and environment names.
func TestCompletion(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	dir := daemontest.AppProject(t, daemontest.App{Project: "comp", Worker: true})
	if err := os.MkdirAll(filepath.Join(dir, "envs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"dev", "staging"} {
		if err := os.WriteFile(filepath.Join(dir, "envs", env+".yaml"), []byte("services: {}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustRun(t, d, "up", dir, "-y")

	complete := func(args ...string) []string {
		t.Helper()
		// The socket goes first: exec parses no flag after INSTANCE.
		line := append([]string{"__complete", args[0], "--socket", d.Socket}, args[1:]...)
		r := run(t, nil, append(line, "")...)
		var names []string
		for _, l := range strings.Split(r.stdout, "\n") {
			if l != "" && !strings.HasPrefix(l, ":") {
				names = append(names, strings.Split(l, "\t")[0])
			}
		}
		return names
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"status"}, []string{"comp-dev"}},
		{[]string{"rm"}, []string{"comp-dev"}},
		{[]string{"logs", "comp-dev"}, []string{"web", "worker"}},
		{[]string{"exec", "comp-dev"}, []string{"web", "worker"}},
		{[]string{"rollback", "comp-dev", "--to"}, []string{"1"}},
		{[]string{"up", dir, "--env"}, []string{"dev", "staging"}},
		{[]string{"lint", dir, "-e"}, []string{"dev", "staging"}},
		{[]string{"up", dir, "--runtime"}, []string{"process", "docker", "kubernetes"}},
		// A verb declaring --env itself gets the same completion.
		{[]string{"secrets", "ls", dir, "--env"}, []string{"dev", "staging"}},
	} {
		if got := complete(tc.args...); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("quai %s <TAB> = %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}
