// Command api is the users-api example's REST backend: a small JSON API over
// a PostgreSQL table of users. It is the application quai deploys in its demo
// and benchmarks, so it behaves like a well-run service: configuration from the
// environment, an idempotent migration at start, a health endpoint that checks
// the database, structured logs on stdout and a graceful shutdown that lets
// in-flight requests finish when SIGTERM arrives.
//
// It is a standalone program: it imports nothing from quai.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Timeouts chosen for a small API behind a reverse proxy.
const (
	// connectTimeout bounds how long start-up waits for PostgreSQL: long
	// enough for a database that is still starting, short enough that a wrong
	// DATABASE_URL fails the deploy instead of hanging it.
	connectTimeout = 60 * time.Second
	// shutdownTimeout bounds the drain of in-flight requests after SIGTERM.
	shutdownTimeout = 20 * time.Second
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, log, os.Getenv); err != nil {
		stop()
		log.Error("api stopped", "error", err.Error())
		os.Exit(1)
	}
}

// config is what the api reads from its environment.
type config struct {
	DatabaseURL string
	// Host is the interface to listen on; empty means all, as a container
	// needs. On a shared host the stack sets 127.0.0.1 so only the proxy
	// reaches the replicas.
	Host    string
	Port    string
	Version string
}

func configFromEnv(getenv func(string) string) (config, error) {
	c := config{
		DatabaseURL: getenv("DATABASE_URL"),
		Host:        getenv("HOST"),
		Port:        getenv("PORT"),
		Version:     getenv("APP_VERSION"),
	}
	if c.DatabaseURL == "" {
		return c, errors.New("DATABASE_URL is not set: set it to a PostgreSQL URL such as postgres://app:secret@localhost:5432/users")
	}
	if c.Port == "" {
		c.Port = "8080"
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	return c, nil
}

// run serves until ctx is cancelled (SIGTERM), then drains in-flight requests.
func run(ctx context.Context, log *slog.Logger, getenv func(string) string) error {
	cfg, err := configFromEnv(getenv)
	if err != nil {
		return err
	}

	pool, err := connect(ctx, log, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := migrate(ctx, pool); err != nil {
		return err
	}

	srv := &http.Server{
		Addr:              net.JoinHostPort(cfg.Host, cfg.Port),
		Handler:           newServer(pool, cfg.Version, log).routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (HOST, PORT): %w", srv.Addr, err)
	}
	log.Info("api listening", "addr", ln.Addr().String(), "version", cfg.Version)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	// Shutdown stops accepting connections at once and waits for in-flight
	// requests, so a replica being replaced never cuts a response short.
	log.Info("shutting down", "timeout", shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// connect opens a pool and waits until PostgreSQL answers, retrying while it
// is still starting.
func connect(ctx context.Context, log *slog.Logger, url string) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	pcfg.MaxConns = 10
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("create database pool: %w", err)
	}
	deadline := time.Now().Add(connectTimeout)
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err = pool.Ping(pctx)
		cancel()
		if err == nil {
			return pool, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			pool.Close()
			return nil, fmt.Errorf("connect to PostgreSQL at %s:%d: %w", pcfg.ConnConfig.Host, pcfg.ConnConfig.Port, err)
		}
		log.Warn("database not ready, retrying", "attempt", attempt, "error", err.Error())
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
