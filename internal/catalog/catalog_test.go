package catalog

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

const validHeader = `name: demo
description: A demo.
version: 2.1.0
upstream: https://example.com
licence: MIT
settings:
  - name: GREETING
    default: hello
    pattern: "[a-z]+"
    description: The greeting.
  - name: WORKERS
    type: integer
    default: 2
    description: Workers.
  - name: TOKEN_NAME
    required: true
    description: Required.
upgrades:
  - to: 2
    notes: Run the migration.
`

func TestParseMetaValidatesAgainstTheSchema(t *testing.T) {
	if _, err := ParseMeta([]byte(validHeader)); err != nil {
		t.Fatalf("valid header: %v", err)
	}
	for name, c := range map[string]struct{ header, want string }{
		"missing licence":   {strings.Replace(validHeader, "licence: MIT\n", "", 1), "licence"},
		"unknown key":       {validHeader + "homepage: x\n", "homepage"},
		"bad version":       {strings.Replace(validHeader, "2.1.0", "2.1", 1), "version"},
		"plain http":        {strings.Replace(validHeader, "https://example.com", "http://example.com", 1), "upstream"},
		"bad setting name":  {strings.Replace(validHeader, "GREETING", "greeting", 1), "name"},
		"default vs type":   {strings.Replace(validHeader, "default: 2", "default: two", 1), "WORKERS"},
		"default vs regexp": {strings.Replace(validHeader, "default: hello", "default: Hello", 1), "GREETING"},
		"reserved name":     {strings.Replace(validHeader, "GREETING", "QUAI_HOST", 1), "reserved"},
		"not yaml":          {"name: [", "YAML"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseMeta([]byte(c.header))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrInvalid mentioning %q", err, c.want)
			}
		})
	}
}

func demoEntry(t *testing.T, header string) *Entry {
	t.Helper()
	fsys := fstest.MapFS{
		"demo/catalog.yaml": {Data: []byte(header)},
		"demo/compose.yaml": {Data: []byte("services:\n  web:\n    image: nginx:1.27.2\n")},
		"demo/conf/a.conf":  {Data: []byte("a\n")},
	}
	es, err := ReadEntries(fsys, "test")
	if err != nil {
		t.Fatal(err)
	}
	return es[0]
}

func TestInstallWritesSettingsThenUpgradesKeepingThem(t *testing.T) {
	e := demoEntry(t, strings.Replace(validHeader, "version: 2.1.0", "version: 1.0.0", 1))
	dir := filepath.Join(t.TempDir(), "demo-acme-prod")
	if _, err := e.Install(InstallOptions{Dir: dir}); err == nil || !strings.Contains(err.Error(), "TOKEN_NAME is required") {
		t.Fatalf("install without a required setting: %v", err)
	}
	if _, err := e.Install(InstallOptions{Dir: dir, Set: map[string]string{"TOKEN_NAME": "x", "NOPE": "1"}}); err == nil || !strings.Contains(err.Error(), "no setting NOPE") {
		t.Fatalf("install with an unknown setting: %v", err)
	}
	if _, err := e.Install(InstallOptions{Dir: dir, Set: map[string]string{"TOKEN_NAME": "x", "WORKERS": "many"}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("install with a bad integer: %v", err)
	}
	res, err := e.Install(InstallOptions{Dir: dir, Set: map[string]string{"TOKEN_NAME": "a b", "WORKERS": "4"}, Host: "demo.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Previous != "" || res.Settings["GREETING"] != "hello" || res.Settings["WORKERS"] != "4" {
		t.Fatalf("first install: %+v", res)
	}
	for _, f := range []string{"compose.yaml", "catalog.yaml", "conf/a.conf", OverrideFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, OverrideFile)); !strings.Contains(string(b), `default_host: "demo.example.com"`) {
		t.Errorf("%s:\n%s", OverrideFile, b)
	}
	if _, err := e.RecordHost(dir, "demo.example.com"); err != nil {
		t.Fatal(err)
	}
	env, _ := os.ReadFile(filepath.Join(dir, EnvFile))
	for _, want := range []string{"GREETING=hello\n", "WORKERS=4\n", "TOKEN_NAME='a b'\n", "QUAI_HOST=demo.example.com\n"} {
		if !strings.Contains(string(env), want) {
			t.Errorf(".env lacks %q:\n%s", want, env)
		}
	}

	if err := os.WriteFile(filepath.Join(dir, "conf", "a.conf"), []byte("mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v2 := demoEntry(t, validHeader)
	res, err = v2.Install(InstallOptions{Dir: dir, Set: map[string]string{"GREETING": "salut"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Previous != "1.0.0" || res.Version != "2.1.0" || len(res.Notes) != 1 || res.Notes[0].To != 2 {
		t.Fatalf("upgrade: %+v", res)
	}
	if len(res.Kept) != 1 || res.Kept[0] != "conf/a.conf" {
		t.Errorf("kept %v, want the user's conf/a.conf", res.Kept)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "conf", "a.conf")); string(b) != "mine\n" {
		t.Errorf("the user's change was overwritten: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "conf", "a.conf.catalog-new")); string(b) != "a\n" {
		t.Errorf("the entry's version beside it: %q", b)
	}
	if res.Settings["WORKERS"] != "4" || res.Settings["TOKEN_NAME"] != "a b" || res.Settings["GREETING"] != "salut" {
		t.Errorf("upgrade lost settings: %+v", res.Settings)
	}
	if env, _ := os.ReadFile(filepath.Join(dir, EnvFile)); !strings.Contains(string(env), "QUAI_HOST=demo.example.com") {
		t.Errorf("upgrade lost the host:\n%s", env)
	}
	if _, err := e.Install(InstallOptions{Dir: dir, Set: map[string]string{"TOKEN_NAME": "x"}}); err == nil || !strings.Contains(err.Error(), "downgrade") {
		t.Errorf("downgrade: %v", err)
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Install(InstallOptions{Dir: other, Set: map[string]string{"TOKEN_NAME": "x"}}); err == nil || !strings.Contains(err.Error(), "holds no installed catalog entry") {
		t.Errorf("install into a foreign folder: %v", err)
	}
}

func TestReadEntriesRefusesWhatInstallWrites(t *testing.T) {
	fsys := fstest.MapFS{
		"demo/catalog.yaml": {Data: []byte(validHeader)},
		"demo/compose.yaml": {Data: []byte("services: {}\n")},
		"demo/.env":         {Data: []byte("A=1\n")},
	}
	if _, err := ReadEntries(fsys, "test"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("entry with .env: %v", err)
	}
	delete(fsys, "demo/.env")
	delete(fsys, "demo/compose.yaml")
	if _, err := ReadEntries(fsys, "test"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("entry without compose.yaml: %v", err)
	}
}

// writeCatalog writes a one-entry catalog folder.
func writeCatalog(t *testing.T, dir string) {
	t.Helper()
	for name, body := range map[string]string{
		"demo/catalog.yaml": validHeader,
		"demo/compose.yaml": "services:\n  web:\n    image: nginx:1.27.2\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAddFolderAndGitCatalogs(t *testing.T) {
	data := t.TempDir()
	src := filepath.Join(t.TempDir(), "team")
	writeCatalog(t, src)
	c, err := Open(data)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	s, es, err := c.Add(context.Background(), AddOptions{Location: src, Check: func(e *Entry) error { checked++; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "team" || s.Kind != KindDir || len(es) != 1 || checked != 1 {
		t.Fatalf("add folder: %+v %d entries, %d checked", s, len(es), checked)
	}
	if _, _, err := c.Add(context.Background(), AddOptions{Location: src}); err == nil {
		t.Error("adding the same name twice succeeded")
	}
	if _, _, err := c.Add(context.Background(), AddOptions{Location: src, Name: "bad", Check: func(*Entry) error { return errors.New("stack broken") }}); err == nil || !strings.Contains(err.Error(), "stack broken") {
		t.Errorf("a failing check: %v", err)
	}

	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	repo := filepath.Join(t.TempDir(), "shared")
	writeCatalog(t, repo)
	for _, args := range [][]string{
		{"init", "-q"}, {"add", "."},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "catalog"},
	} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	s, _, err = c.Add(context.Background(), AddOptions{Location: "file://" + repo})
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != KindGit || !strings.HasPrefix(s.Path, data) {
		t.Fatalf("add git: %+v", s)
	}
	c2, err := Open(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Entry("demo"); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("demo in two catalogs: %v", err)
	}
	e, err := c2.Entry("shared/demo")
	if err != nil || e.Catalog != "shared" {
		t.Fatalf("shared/demo: %+v, %v", e, err)
	}
	if _, err := c2.Entry("wordpress"); err != nil {
		t.Errorf("built-in entry: %v", err)
	}
	if _, err := c2.Remove("shared"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the clone stays after rm: %v", err)
	}
	if _, err := c2.Remove("shared"); !errors.Is(err, ErrNotFound) {
		t.Errorf("rm twice: %v", err)
	}
	// A referenced folder that went away hides its entries only.
	if err := os.RemoveAll(src); err != nil {
		t.Fatal(err)
	}
	if es, err := c2.Entries(); err == nil || !strings.Contains(err.Error(), "quai catalog rm team") || len(es) == 0 {
		t.Errorf("entries with a vanished catalog: %d entries, %v", len(es), err)
	}
	if _, err := c2.Entry("wordpress"); err != nil {
		t.Errorf("a built-in entry beside a vanished catalog: %v", err)
	}
}
