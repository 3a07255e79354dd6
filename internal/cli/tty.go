package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// isTerminal reports whether s is a terminal.
func isTerminal(s any) bool {
	fd, ok := terminalFd(s)
	return ok && term.IsTerminal(fd)
}

// terminalFd returns the descriptor of s when it is a file. It does not use
// os.File.Fd, which switches the file to blocking mode and so breaks the
// read deadlines that stop exec's stdin pump when a command ends.
func terminalFd(s any) (int, bool) {
	f, ok := s.(*os.File)
	if !ok {
		return 0, false
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, false
	}
	fd := -1
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil || fd < 0 {
		return 0, false
	}
	return fd, true
}

// interactive reports whether the user can answer questions: stdin and
// stdout are terminals and JSON output was not asked for.
func (g *globals) interactive() bool {
	return !g.JSON && isTerminal(g.stdin) && isTerminal(g.stdout)
}

// readLine reads one line from r a byte at a time, so nothing after the
// line is consumed: the next question, or a command's stdin, gets it.
func readLine(r io.Reader) (string, error) {
	var b strings.Builder
	var c [1]byte
	for {
		n, err := r.Read(c[:])
		if n == 1 {
			if c[0] == '\n' {
				return b.String(), nil
			}
			b.WriteByte(c[0])
		}
		if err != nil {
			if errors.Is(err, io.EOF) && b.Len() > 0 {
				return b.String(), nil
			}
			return b.String(), err
		}
	}
}

// maxAsks bounds how often a prompt asks again after an answer it cannot
// use; then the user is taken to have declined.
const maxAsks = 3

// ask prints question and returns the answer line, trimmed. End of input
// is a refusal.
func (g *globals) ask(question string) (string, error) {
	fprint(g.stderr, question)
	line, err := readLine(g.stdin)
	if errors.Is(err, io.EOF) {
		fprintln(g.stderr)
		return "", declined("no answer (end of input); nothing changed")
	}
	if err != nil {
		return "", fmt.Errorf("read answer: %w", err)
	}
	return strings.TrimSpace(line), nil
}

// askUntil asks question until valid accepts the answer, saying retry after
// each answer it does not, at most maxAsks times; then the user declined,
// and nothing is the message of the returned error.
func (g *globals) askUntil(question, retry, nothing string, valid func(string) bool) (string, error) {
	for range maxAsks {
		ans, err := g.ask(question)
		if err != nil {
			return "", err
		}
		if valid(ans) {
			return ans, nil
		}
		fprintln(g.stderr, retry)
	}
	return "", declined(fmt.Sprintf("no valid answer after %d tries; %s", maxAsks, nothing))
}

// confirm asks a yes/no question; an empty answer is no, anything but
// y/yes/n/no is asked again.
func (g *globals) confirm(question string) (bool, error) {
	ans, err := g.askUntil(question+" [y/N] ", "please answer y or n", "nothing changed", func(s string) bool {
		switch strings.ToLower(s) {
		case "", "y", "yes", "n", "no":
			return true
		}
		return false
	})
	if err != nil {
		return false, err
	}
	switch strings.ToLower(ans) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}
