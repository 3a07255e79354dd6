package edgetest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/net/websocket"
)

// AppEnv set to "1" makes the binary the project's app (AppMain).
const AppEnv = "QUAI_EDGE_APP"

// IsApp reports whether this process was started as the project's app.
func IsApp() bool { return os.Getenv(AppEnv) == "1" }

// AppMain serves on $PORT: "/" answers "ok VERSION", /healthz "ok", /ws
// echoes WebSocket messages. It returns the exit code.
func AppMain() int {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(os.Getenv("APP_HOST"), port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "edge app:", err)
		return 1
	}
	v := os.Getenv("VERSION")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprintf(w, "ok %s\n", v) })
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprintln(w, "ok") })
	mux.Handle("/ws", websocket.Handler(func(ws *websocket.Conn) {
		for {
			var msg string
			if err := websocket.Message.Receive(ws, &msg); err != nil {
				return
			}
			if err := websocket.Message.Send(ws, v+":"+msg); err != nil {
				return
			}
		}
	}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	_ = srv.Serve(ln)
	return 0
}
