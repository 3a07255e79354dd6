package secrets

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

func TestLoadOrCreateKeyIsPrivateWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	path := filepath.Join(t.TempDir(), "master.key")
	if _, err := LoadOrCreateKey(path, nil); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != KeyFileMode || fi.Size() != KeySize {
		t.Errorf("key file mode %v size %d; want %v and %d", fi.Mode().Perm(), fi.Size(), KeyFileMode, KeySize)
	}
}

func TestLoadOrCreateKeyTightensAWideKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(path, bytes.Repeat([]byte{7}, KeySize), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path, nil); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != KeyFileMode {
		t.Errorf("mode %v; want %v", fi.Mode().Perm(), KeyFileMode)
	}
}

// Concurrent first uses must agree on one key, or values sealed by one
// caller would not open for another.
func TestConcurrentCreationYieldsOneKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	const n = 8
	keys := make([]*Key, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := LoadOrCreateKey(path, nil)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	sealed := keys[0].Seal([]byte("value"), []byte("ad"))
	for i, k := range keys {
		if _, err := k.Open(sealed, []byte("ad")); err != nil {
			t.Errorf("key %d does not open key 0's value: %v", i, err)
		}
	}
	left, err := filepath.Glob(filepath.Join(filepath.Dir(path), ".master.key.tmp*"))
	if err != nil || len(left) != 0 {
		t.Errorf("temporary files left: %v (%v)", left, err)
	}
}

func TestSealOpensOnlyWithItsAssociatedData(t *testing.T) {
	k, err := NewKey(bytes.Repeat([]byte{1}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewKey(bytes.Repeat([]byte{2}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("s3cret-password")
	sealed := k.Seal(plain, []byte("shop-prod\x001\x00model"))
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed bytes contain the plain text")
	}
	got, err := k.Open(sealed, []byte("shop-prod\x001\x00model"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v; want the plain text", got, err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, try := range map[string]func() ([]byte, error){
		"other release": func() ([]byte, error) { return k.Open(sealed, []byte("shop-prod\x002\x00model")) },
		"other column":  func() ([]byte, error) { return k.Open(sealed, []byte("shop-prod\x001\x00resolved")) },
		"other key":     func() ([]byte, error) { return other.Open(sealed, []byte("shop-prod\x001\x00model")) },
		"altered bytes": func() ([]byte, error) { return k.Open(tampered, []byte("shop-prod\x001\x00model")) },
		"plain text":    func() ([]byte, error) { return k.Open(plain, nil) },
	} {
		if _, err := try(); !errors.Is(err, ErrUnseal) {
			t.Errorf("%s: err %v; want ErrUnseal", name, err)
		}
	}
}
