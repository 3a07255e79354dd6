package cli

import (
	"context"
	"errors"
	"os"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/datadir"
)

// envNoAutostart, when set, makes verbs fail instead of starting a daemon.
const envNoAutostart = "QUAI_NO_AUTOSTART"

// dataDir resolves the data directory from --data-dir and the environment.
func (g *globals) dataDir() (string, error) {
	return datadir.Resolve(g.DataDir, os.Getenv, os.Geteuid())
}

// socketPath is --socket, else the data directory's socket.
func (g *globals) socketPath() (string, error) {
	if g.Socket != "" {
		return g.Socket, nil
	}
	dir, err := g.dataDir()
	if err != nil {
		return "", err
	}
	return datadir.SocketPath(dir), nil
}

// client returns a client of the daemon of the context in use: a remote
// context's network API (remotectx.go), or the local daemon, started in the
// background when none answers (unless QUAI_NO_AUTOSTART is set). A remote
// context never starts a local daemon.
func (g *globals) client(ctx context.Context) (*client.Client, error) {
	rc, _, err := g.remote()
	if err != nil {
		return nil, err
	}
	if rc != nil {
		return rc.client()
	}
	sock, err := g.socketPath()
	if err != nil {
		return nil, err
	}
	c := client.New(sock)
	_, err = c.Info(ctx)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, client.ErrDaemonNotRunning) || os.Getenv(envNoAutostart) != "" {
		return nil, err
	}
	if err := g.startDaemon(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}
