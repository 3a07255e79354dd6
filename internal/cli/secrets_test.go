package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/creack/pty"

	"github.com/quai-dev/quai/internal/cli"
	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/secrets/sops"
	"github.com/quai-dev/quai/internal/secrets/sops/sopstest"
	"github.com/quai-dev/quai/internal/wire"
)

// logBuffer collects a daemon's log, at every level, for a scan.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// secretsDaemon starts a daemon whose whole log is kept.
func secretsDaemon(t *testing.T) (*daemontest.Daemon, *logBuffer) {
	log := &logBuffer{}
	d := daemontest.Start(t, daemontest.Options{
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return d, log
}

// transcript keeps every output of the verbs a test ran, for a scan.
type transcript struct{ out strings.Builder }

// runIn runs a verb with stdin against d, keeping its output.
func (tr *transcript) runIn(t *testing.T, d *daemontest.Daemon, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append([]string{"--socket", d.Socket}, args...)
	code := cli.Run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	t.Logf("quai %s → %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
	tr.out.WriteString(out.String() + errOut.String())
	return result{code, out.String(), errOut.String()}
}

func (tr *transcript) must(t *testing.T, d *daemontest.Daemon, stdin string, args ...string) result {
	t.Helper()
	r := tr.runIn(t, d, stdin, args...)
	if r.code != 0 {
		t.Fatalf("quai %s exited %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// exportedIDs exports the daemon's keys of (org, env) in clear and parses them.
func (tr *transcript) exportedIDs(t *testing.T, d *daemontest.Daemon, org, env string) ([]age.Identity, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), org+"-"+env+".txt")
	tr.must(t, d, "", "secrets", "key", "export", "--org", org, "--env", env, "--plain", "-o", file)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return ids, file
}

func openValue(t *testing.T, path, name string, ids []age.Identity) (string, error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := sops.Decrypt(b, ids...)
	if err != nil {
		return "", err
	}
	v, _ := doc.Get(name)
	return v, nil
}

// scanFor fails when any file under dir holds one of values.
func scanFor(t *testing.T, what, dir string, values []string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !e.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s file %s holds the value %q", what, path, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSecretsSetLsAndWhoOpensWhat(t *testing.T) {
	d, log := secretsDaemon(t)
	dir := t.TempDir()
	var tr transcript
	const (
		pw    = "pw-value-5f1c0e9a"
		token = "token-value-77d2b3"
		stg   = "staging-value-c04b1e"
		multi = "line-one-a1\nline-two-b2\n"
	)

	r := tr.must(t, d, pw+"\n", "secrets", "set", dir, "--env", "prod", "db_password")
	if !strings.Contains(r.stderr, "created the age key default/prod#1") || !strings.Contains(r.stderr, "quai secrets key export --org default --env prod") {
		t.Errorf("the verb that made the key does not say to export it: %q", r.stderr)
	}
	if !strings.Contains(log.String(), "created the age key default/prod#1") {
		t.Error("the daemon log does not record the key's creation and the advice to export it")
	}
	if r := tr.must(t, d, multi, "secrets", "set", dir, "--env", "prod", "--keep-newline", "cert"); strings.Contains(r.stderr, "created the age key") {
		t.Errorf("a second set made a key again: %q", r.stderr)
	}
	tr.must(t, d, token, "secrets", "set", dir, "--env", "prod", "--org", "acme", "api_token")
	tr.must(t, d, stg+"\n", "secrets", "set", dir, "--env", "staging", "db_password")
	if r := tr.runIn(t, d, "", "secrets", "set", dir, "--env", "prod", "empty"); r.code == 0 || !strings.Contains(r.stderr, "empty") {
		t.Errorf("an empty value was sealed: %+v", r)
	}
	if r := tr.runIn(t, d, "x", "secrets", "set", dir, "--env", "prod", "db_password", "extra"); r.code == 0 {
		t.Error("set took a third argument (a value on the command line?)")
	}

	base := filepath.Join(dir, "secrets", "prod.yaml")
	fi, err := os.Stat(base)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("sealed file: %v, %v; want mode 0644", fi, err)
	}
	cfg, err := sops.ReadConfig(filepath.Join(dir, ".sops.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	// The file opens with its (org, env) key, exactly as set (one trailing
	// newline of piped input dropped, --keep-newline keeps it), and not with
	// another env's or org's key.
	prodIDs, prodKeyFile := tr.exportedIDs(t, d, "default", "prod")
	stagingIDs, _ := tr.exportedIDs(t, d, "default", "staging")
	acmeIDs, _ := tr.exportedIDs(t, d, "acme", "prod")
	if v, err := openValue(t, base, "db_password", prodIDs); err != nil || v != pw {
		t.Errorf("db_password with default/prod's key = %q, %v; want %q", v, err, pw)
	}
	if v, err := openValue(t, base, "cert", prodIDs); err != nil || v != multi {
		t.Errorf("cert (--keep-newline) = %q, %v; want %q", v, err, multi)
	}
	if _, err := openValue(t, base, "db_password", stagingIDs); !errors.Is(err, sops.ErrNoIdentity) {
		t.Errorf("prod's file with staging's key: %v, want ErrNoIdentity", err)
	}
	if _, err := openValue(t, base, "db_password", acmeIDs); !errors.Is(err, sops.ErrNoIdentity) {
		t.Errorf("the base file (sealed for the default org) with acme's key: %v, want ErrNoIdentity", err)
	}
	if v, err := openValue(t, filepath.Join(dir, "orgs", "acme", "secrets", "prod.yaml"), "api_token", acmeIDs); err != nil || v != token {
		t.Errorf("acme's api_token = %q, %v", v, err)
	}
	if got := cfg.RecipientsFor("secrets/prod.yaml"); len(got) != 1 || got[0] != prodIDs[0].(*age.X25519Identity).Recipient().String() {
		t.Errorf(".sops.yaml gives secrets/prod.yaml to %v; want default/prod's key", got)
	}
	// The real sops CLI opens the file with the exported key.
	if out := sopstest.Run(t, dir, prodKeyFile, "-d", "--extract", `["db_password"]`, "secrets/prod.yaml"); out != pw {
		t.Errorf("sops -d --extract db_password = %q", out)
	}

	var rows []struct {
		Name       string                 `json:"name"`
		File       string                 `json:"file"`
		Recipients []wire.SecretRecipient `json:"recipients"`
	}
	if err := json.Unmarshal([]byte(tr.must(t, d, "", "secrets", "ls", dir, "--env", "prod", "--json").stdout), &rows); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		k := r.Recipients[0].Key
		if len(r.Recipients) != 1 || k == nil {
			t.Fatalf("ls row %+v: want one recipient, a key of the daemon", r)
		}
		got = append(got, r.Name+"@"+r.File+"→"+k.Org+"/"+k.Env)
	}
	want := []string{"api_token@orgs/acme/secrets/prod.yaml→acme/prod", "db_password@secrets/prod.yaml→default/prod", "cert@secrets/prod.yaml→default/prod"}
	if !slices.Equal(got, want) {
		t.Errorf("ls --json: %v, want %v", got, want)
	}
	table := tr.must(t, d, "", "secrets", "ls", dir).stdout
	if !strings.Contains(table, "default/staging#1") || !strings.Contains(table, "db_password") {
		t.Errorf("ls:\n%s", table)
	}
	keys := tr.must(t, d, "", "secrets", "key", "ls").stdout
	current := 0 // the CURRENT column: a recipient may hold "yes" too
	for _, line := range strings.Split(keys, "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[3] == "yes" {
			current++
		}
	}
	if current != 3 || strings.Contains(keys, "AGE-SECRET-KEY") {
		t.Errorf("key ls:\n%s; want 3 current keys, public only", keys)
	}

	values := []string{pw, token, stg, "line-one-a1"}
	for _, v := range values {
		if strings.Contains(log.String(), v) {
			t.Errorf("the daemon log holds the value %q", v)
		}
		if strings.Contains(tr.out.String(), v) {
			t.Errorf("the CLI printed the value %q", v)
		}
	}
	scanFor(t, "data directory", d.DataDir, values)
	scanFor(t, "data directory", d.DataDir, []string{"AGE-SECRET-KEY-1"})
}

func TestSecretsEditRmAndDiff(t *testing.T) {
	d, log := secretsDaemon(t)
	dir := t.TempDir()
	var tr transcript
	tr.must(t, d, "keep-value-0a9d", "secrets", "set", dir, "--env", "prod", "keep")
	tr.must(t, d, "old-value-31fe", "secrets", "set", dir, "--env", "prod", "change")
	tr.must(t, d, "gone-value-88c2", "secrets", "set", dir, "--env", "prod", "drop")
	tr.must(t, d, "stg-value-11aa", "secrets", "set", dir, "--env", "staging", "keep")
	tr.must(t, d, "stg-value-22bb", "secrets", "set", dir, "--env", "staging", "only_staging")

	// The editor sees names only, in a private file, and changes one value,
	// removes a name and adds one.
	work := t.TempDir()
	editor := filepath.Join(work, "editor.sh")
	script := `#!/bin/sh
set -e
cp "$1" "` + work + `/seen.yaml"
echo "$1" > "` + work + `/path"
stat -c %a "$1" > "` + work + `/mode"
stat -c %a "$(dirname "$1")" > "` + work + `/dirmode"
sed -i -e 's/^change: .*/change: new-value-4b7e/' -e '/^drop:/d' "$1"
echo 'added: added-value-9c0f' >> "$1"
`
	if err := os.WriteFile(editor, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EDITOR", editor)
	r := tr.must(t, d, "", "secrets", "edit", dir, "--env", "prod")
	if !strings.Contains(r.stdout, "sealed added, change; removed drop in secrets/prod.yaml") {
		t.Errorf("edit says %q", r.stdout)
	}
	seen, _ := os.ReadFile(filepath.Join(work, "seen.yaml"))
	for _, n := range []string{"keep: <unchanged>", "change: <unchanged>", "drop: <unchanged>"} {
		if !strings.Contains(string(seen), n) {
			t.Errorf("the editor was not shown %q:\n%s", n, seen)
		}
	}
	tmp, _ := os.ReadFile(filepath.Join(work, "path"))
	mode, _ := os.ReadFile(filepath.Join(work, "mode"))
	dirMode, _ := os.ReadFile(filepath.Join(work, "dirmode"))
	tmpPath := strings.TrimSpace(string(tmp))
	if strings.TrimSpace(string(mode)) != "600" || strings.TrimSpace(string(dirMode)) != "700" {
		t.Errorf("the edited file has mode %s in a directory of mode %s; want 600 in 700", mode, dirMode)
	}
	if _, err := os.Stat("/dev/shm"); err == nil && !strings.HasPrefix(tmpPath, "/dev/shm/") {
		t.Errorf("the edited file %s is not in memory (/dev/shm)", tmpPath)
	}
	if _, err := os.Stat(filepath.Dir(tmpPath)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the edited file's directory %s is left behind: %v", filepath.Dir(tmpPath), err)
	}
	ids, _ := tr.exportedIDs(t, d, "default", "prod")
	base := filepath.Join(dir, "secrets", "prod.yaml")
	for name, want := range map[string]string{"keep": "keep-value-0a9d", "change": "new-value-4b7e", "added": "added-value-9c0f", "drop": ""} {
		if v, err := openValue(t, base, name, ids); err != nil || v != want {
			t.Errorf("after edit %s = %q, %v; want %q", name, v, err, want)
		}
	}

	// An editor that is interrupted: it is killed (itself, not a shell
	// above it), nothing is sealed, nothing is left behind. The verb's
	// output goes to files, so nothing but the editor's end can hold it up.
	before, _ := os.ReadFile(base)
	slow := filepath.Join(work, "slow.sh")
	info := filepath.Join(work, "slowinfo")
	script = "#!/bin/sh\necho \"$$ $1\" > \"" + info + ".tmp\"\nmv \"" + info + ".tmp\" \"" + info + "\"\n" +
		"echo 'keep: typed-value-5d5d' >> \"$1\"\nexec sleep 60\n"
	if err := os.WriteFile(slow, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EDITOR", slow)
	outFile, err := os.Create(filepath.Join(work, "edit.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = outFile.Close() }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"--socket", d.Socket, "secrets", "edit", dir, "--env", "prod"}, strings.NewReader(""), outFile, outFile)
	}()
	var pid int
	var slowPath string
	for deadline := time.Now().Add(30 * time.Second); slowPath == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(info)
		if f := strings.Fields(string(b)); len(f) == 2 {
			pid, _ = strconv.Atoi(f[0])
			slowPath = f[1]
		}
	}
	cancel()
	if code := <-done; code == 0 || slowPath == "" || pid <= 0 {
		t.Fatalf("interrupted edit exited %d (editor pid %d, file %q); want a failure", code, pid, slowPath)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("the interrupted editor (pid %d) still runs: %v", pid, err)
	}
	if _, err := os.Stat(filepath.Dir(slowPath)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an interrupted edit left %s behind: %v", filepath.Dir(slowPath), err)
	}
	if after, _ := os.ReadFile(base); !bytes.Equal(before, after) {
		t.Error("an interrupted edit changed the sealed file")
	}

	tr.must(t, d, "", "secrets", "rm", dir, "--env", "prod", "added")
	if r := tr.runIn(t, d, "", "secrets", "rm", dir, "--env", "prod", "nope"); r.code == 0 || !strings.Contains(r.stderr, "no such secret nope in secrets/prod.yaml") {
		t.Errorf("rm of a missing name: %+v", r)
	}
	if v, err := openValue(t, base, "added", ids); err != nil || v != "" {
		t.Errorf("after rm added = %q, %v", v, err)
	}

	var diff struct {
		OnlyA  []string `json:"only_in_a"`
		OnlyB  []string `json:"only_in_b"`
		InBoth []string `json:"in_both"`
	}
	out := tr.must(t, d, "", "secrets", "diff", dir, "--env", "staging", "--env", "prod", "--json").stdout
	if err := json.Unmarshal([]byte(out), &diff); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(diff.OnlyA, []string{"only_staging"}) || !slices.Equal(diff.OnlyB, []string{"change"}) || !slices.Equal(diff.InBoth, []string{"keep"}) {
		t.Errorf("diff: %+v", diff)
	}
	if text := tr.must(t, d, "", "secrets", "diff", dir, "--env", "staging", "--env", "prod").stdout; text != "only in staging: only_staging\nonly in prod: change\nin both: keep\n" {
		t.Errorf("diff:\n%s", text)
	}

	values := []string{"keep-value-0a9d", "old-value-31fe", "gone-value-88c2", "new-value-4b7e", "added-value-9c0f", "typed-value-5d5d", "stg-value-11aa"}
	for _, v := range values {
		if strings.Contains(log.String(), v) || strings.Contains(tr.out.String(), v) {
			t.Errorf("the value %q is in the daemon log or the CLI output", v)
		}
	}
	scanFor(t, "data directory", d.DataDir, values)
}

func TestSecretsRotateAndKeysMoveToAnotherHost(t *testing.T) {
	d, _ := secretsDaemon(t)
	dir := t.TempDir()
	var tr transcript
	tr.must(t, d, "rot-value-a-61e0", "secrets", "set", dir, "--env", "prod", "a")
	tr.must(t, d, "rot-value-b-0c2d", "secrets", "set", dir, "--env", "prod", "b")
	base := filepath.Join(dir, "secrets", "prod.yaml")
	before, _ := os.ReadFile(base)

	r := tr.must(t, d, "", "secrets", "rotate", dir, "--env", "prod", "--add-org", "acme")
	if !strings.Contains(r.stdout, "default/prod#1, acme/prod#1") || !strings.Contains(r.stderr, "created the age key acme/prod#1") {
		t.Errorf("rotate --add-org acme: %q %q", r.stdout, r.stderr)
	}
	after, _ := os.ReadFile(base)
	encs := func(b []byte) []string {
		var out []string
		for l := range strings.SplitSeq(string(b), "\n") {
			if i := strings.Index(l, "ENC["); i >= 0 {
				out = append(out, l[i:])
			}
		}
		return out
	}
	for _, c := range encs(after) {
		if slices.Contains(encs(before), c) {
			t.Errorf("a ciphertext survived the rotation: %s", c)
		}
	}
	acme, _ := tr.exportedIDs(t, d, "acme", "prod")
	if v, err := openValue(t, base, "b", acme); err != nil || v != "rot-value-b-0c2d" {
		t.Errorf("acme opens b after --add-org: %q, %v", v, err)
	}
	cfg, err := sops.ReadConfig(filepath.Join(dir, ".sops.yaml"))
	if err != nil || len(cfg.RecipientsFor("secrets/prod.yaml")) != 2 {
		t.Errorf(".sops.yaml after --add-org: %+v, %v; want two recipients", cfg, err)
	}

	r = tr.must(t, d, "", "secrets", "rotate", dir, "--env", "prod", "--remove-org", "acme", "--new-key", "--json")
	var view struct {
		Recipients []wire.SecretRecipient `json:"recipients"`
		Created    []wire.SecretKey       `json:"created_keys"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &view); err != nil {
		t.Fatal(err)
	}
	if len(view.Recipients) != 1 || view.Recipients[0].Key == nil || view.Recipients[0].Key.Generation != 2 || len(view.Created) != 1 {
		t.Errorf("rotate --remove-org acme --new-key: %+v; want default/prod#2 alone, created", view)
	}
	if _, err := openValue(t, base, "a", acme); !errors.Is(err, sops.ErrNoIdentity) {
		t.Errorf("acme opens the file after --remove-org: %v", err)
	}
	if r := tr.runIn(t, d, "", "secrets", "key", "retire", dir, "--org", "default", "--env", "prod", "--generation", "2"); r.code == 0 {
		t.Error("the current generation was retired")
	}
	tr.must(t, d, "", "secrets", "key", "retire", dir, "--org", "default", "--env", "prod", "--generation", "1")

	// Export the keys, import them into a fresh data directory: the file
	// opens there. The passphrase bundle is made here with a low scrypt
	// work factor (age's default takes many seconds under -race).
	_, plainFile := tr.exportedIDs(t, d, "default", "prod")
	plain, err := os.ReadFile(plainFile)
	if err != nil {
		t.Fatal(err)
	}
	const pass = "bundle passphrase 93"
	rcp, err := age.NewScryptRecipient(pass)
	if err != nil {
		t.Fatal(err)
	}
	rcp.SetWorkFactor(10)
	var bundle bytes.Buffer
	w, err := age.Encrypt(&bundle, rcp)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	bundleFile, passFile, wrongFile := filepath.Join(work, "keys.age"), filepath.Join(work, "pass"), filepath.Join(work, "wrong")
	for f, b := range map[string][]byte{bundleFile: bundle.Bytes(), passFile: []byte(pass + "\n"), wrongFile: []byte("nope\n")} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	d2, _ := secretsDaemon(t)
	if r := tr.runIn(t, d2, "", "secrets", "key", "import", bundleFile, "--passphrase-file", wrongFile); r.code == 0 || !strings.Contains(r.stderr, "passphrase") {
		t.Errorf("import with a wrong passphrase: %+v", r)
	}
	if r := tr.runIn(t, d2, "refused-value-3e3e", "secrets", "set", dir, "--env", "prod", "c"); r.code == 0 || !strings.Contains(r.stderr, "quai secrets key import") {
		t.Errorf("set on a file sealed for keys the daemon lacks: %+v; want the import fix", r)
	}
	r = tr.must(t, d2, "", "secrets", "key", "import", bundleFile, "--passphrase-file", passFile)
	if !strings.Contains(r.stdout, "imported 1 key(s)") {
		t.Errorf("import: %q", r.stdout)
	}
	tr.must(t, d2, "rot-value-c-7a7a", "secrets", "set", dir, "--env", "prod", "c")
	ids2, _ := tr.exportedIDs(t, d2, "default", "prod")
	for name, want := range map[string]string{"a": "rot-value-a-61e0", "c": "rot-value-c-7a7a"} {
		if v, err := openValue(t, base, name, ids2); err != nil || v != want {
			t.Errorf("%s on the new host = %q, %v; want %q", name, v, err, want)
		}
	}
	keys2 := tr.must(t, d2, "", "secrets", "key", "ls", "--json").stdout
	var k2 []wire.SecretKey
	if err := json.Unmarshal([]byte(keys2), &k2); err != nil || len(k2) != 1 || k2[0].Generation != 2 {
		t.Errorf("keys on the new host: %s; want default/prod#2 as imported", keys2)
	}
}

// TestSecretsSetAsksOnATerminalWithoutEcho: on a terminal the value is asked
// twice, and the terminal never shows it.
func TestSecretsSetAsksOnATerminalWithoutEcho(t *testing.T) {
	d, _ := secretsDaemon(t)
	dir := t.TempDir()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ptmx.Close(); _ = tty.Close() }()
	var shown logBuffer
	go func() { _, _ = io.Copy(&shown, ptmx) }()
	var stderr logBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(context.Background(), []string{"--socket", d.Socket, "secrets", "set", dir, "--env", "prod", "pw"}, tty, io.Discard, &stderr)
	}()
	const value = "typed-value-4e21"
	for _, prompt := range []string{"value of pw: ", "value of pw (again): "} {
		for deadline := time.Now().Add(30 * time.Second); !strings.HasSuffix(stderr.String(), prompt); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no prompt %q; stderr %q", prompt, stderr.String())
			}
		}
		if _, err := ptmx.Write([]byte(value + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	if code := <-done; code != 0 {
		t.Fatalf("set on a terminal exited %d: %s", code, stderr.String())
	}
	if strings.Contains(shown.String(), value) || strings.Contains(stderr.String(), value) {
		t.Errorf("the terminal showed the value: %q / %q", shown.String(), stderr.String())
	}
	var tr transcript
	ids, _ := tr.exportedIDs(t, d, "default", "prod")
	if v, err := openValue(t, filepath.Join(dir, "secrets", "prod.yaml"), "pw", ids); err != nil || v != value {
		t.Errorf("pw = %q, %v; want what was typed", v, err)
	}
}
