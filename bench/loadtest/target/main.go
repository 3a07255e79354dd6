// Command target is the load tests' benchmark target: a small HTTP server
// answering every request with the same short body, HTTP/1.1 and HTTP/2
// (cleartext, prior knowledge) on one port, so that h2load, wrk and quai
// loadtest measure the same thing. bench/loadtest/run.sh pins it to one
// core.
//
//	go run ./bench/loadtest/target -addr 127.0.0.1:8080 -size 64
package main

import (
	"flag"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	size := flag.Int("size", 64, "response body size in bytes")
	flag.Parse()
	body := []byte(strings.Repeat("x", *size))
	length := strconv.Itoa(len(body))
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Addr: *addr,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			h["Content-Type"] = []string{"text/plain"}
			h["Content-Length"] = []string{length}
			_, _ = w.Write(body)
		}),
		Protocols:         &p,
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Fatal(srv.ListenAndServe())
}
