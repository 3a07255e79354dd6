// Command echo is the ingress test's app, built as a static binary for a
// FROM scratch image: it answers every request on :8080 with $MESSAGE, so a
// test knows which instance a request reached; then, for each ?h=NAME,
// a NAME=VALUE line with the request header the app received.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	msg := os.Getenv("MESSAGE")
	srv := &http.Server{
		Addr: ":8080",
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = fmt.Fprintf(w, "%s\n", msg)
			for _, h := range r.URL.Query()["h"] {
				_, _ = fmt.Fprintf(w, "%s=%s\n", h, r.Header.Get(h))
			}
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
