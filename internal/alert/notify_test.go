package alert

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/quai-dev/quai/internal/wire"
)

func sampleNote() wire.AlertNotification {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	return wire.AlertNotification{Version: 1, Instance: "acme/shop/prod", Org: "acme", Status: wire.AlertFiring, Sent: t0.Add(2 * time.Second),
		Alerts: []wire.NotifiedAlert{{ID: "acme/shop/prod/crash/web-r1-1", Rule: "crash", Subject: "web-r1-1", Severity: SeverityCritical,
			Status: wire.AlertFiring, Summary: "replica web-r1-1 of web exited: killed by signal 9 (SIGKILL)", Started: t0, Count: 1}}}
}

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
}

func receiver(t *testing.T) (*httptest.Server, chan received) {
	t.Helper()
	got := make(chan received, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- received{r.Header.Clone(), b}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"1"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func TestWebhookSigned(t *testing.T) {
	srv, got := receiver(t)
	ch, err := ParseChannel("ops", "", "", srv.URL+"/hooks/quai")
	if err != nil {
		t.Fatal(err)
	}
	if ch.Kind != KindWebhook {
		t.Fatalf("kind %s, want webhook", ch.Kind)
	}
	ch.Secret = "s3cret"
	n := &Notifier{}
	if err := n.Send(context.Background(), ch, sampleNote()); err != nil {
		t.Fatal(err)
	}
	r := <-got
	ts, sig := r.header.Get(HeaderTimestamp), r.header.Get(HeaderSignature)
	if !Verify([]byte("s3cret"), ts, r.body, sig) {
		t.Fatalf("signature %q does not verify over timestamp %q and the body", sig, ts)
	}
	if Verify([]byte("other"), ts, r.body, sig) || Verify([]byte("s3cret"), ts, append(r.body, ' '), sig) {
		t.Fatal("a wrong key or a changed body verifies")
	}
	var note wire.AlertNotification
	if err := json.Unmarshal(r.body, &note); err != nil {
		t.Fatal(err)
	}
	if note.Instance != "acme/shop/prod" || len(note.Alerts) != 1 || note.Alerts[0].Rule != "crash" || r.header.Get(HeaderEvent) != "alert" {
		t.Fatalf("payload %s, headers %v", r.body, r.header)
	}
	t.Logf("webhook delivery:\n%s: %s\n%s: %s\n%s", HeaderTimestamp, ts, HeaderSignature, sig, r.body)
}

func TestWebhookRetriesAndRefusal(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 1 {
			http.Error(w, "busy", http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	ch, _ := ParseChannel("ops", "", "", srv.URL)
	if err := (&Notifier{}).Send(context.Background(), ch, sampleNote()); err != nil || calls != 2 {
		t.Fatalf("a 502 then 200: err %v after %d calls; want a retry that succeeds", err, calls)
	}
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		http.Error(w, "no such hook", http.StatusNotFound)
	}))
	defer gone.Close()
	calls = 0
	ch, _ = ParseChannel("ops", "", "", gone.URL)
	err := (&Notifier{}).Send(context.Background(), ch, sampleNote())
	if err == nil || calls != 1 || !strings.Contains(err.Error(), "404") {
		t.Fatalf("a 404: err %v after %d calls; want one call and the status in the error", err, calls)
	}
}

func TestSlackAndDiscordPayloads(t *testing.T) {
	srv, got := receiver(t)
	for _, kind := range []string{KindSlack, KindDiscord} {
		ch, err := ParseChannel(kind, "", kind, srv.URL+"/services/T000/B000/XXXX")
		if err != nil {
			t.Fatal(err)
		}
		if err := (&Notifier{}).Send(context.Background(), ch, sampleNote()); err != nil {
			t.Fatal(err)
		}
		r := <-got
		var p map[string]any
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		switch kind {
		case KindSlack:
			att, _ := p["attachments"].([]any)
			if p["text"] != "[FIRING:1] acme/shop/prod" || len(att) != 1 || att[0].(map[string]any)["color"] != "#d00000" ||
				!strings.Contains(att[0].(map[string]any)["text"].(string), "SIGKILL") {
				t.Errorf("slack payload %s", r.body)
			}
		case KindDiscord:
			emb, _ := p["embeds"].([]any)
			if p["content"] != "[FIRING:1] acme/shop/prod" || len(emb) != 1 || emb[0].(map[string]any)["color"] != float64(colorFiring) {
				t.Errorf("discord payload %s", r.body)
			}
		}
		if r.header.Get(HeaderSignature) != "" {
			t.Errorf("%s payloads are not signed", kind)
		}
		t.Logf("%s payload: %s", kind, r.body)
	}
}

func TestNtfyThroughShoutrrr(t *testing.T) {
	srv, got := receiver(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	ch, err := ParseChannel("phone", "acme", "", "ntfy://"+host+"/quai-alerts?scheme=http")
	if err != nil {
		t.Fatal(err)
	}
	if err := (&Notifier{}).Send(context.Background(), ch, sampleNote()); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if !strings.Contains(string(r.body), "SIGKILL") || r.header.Get("Title") != "[FIRING:1] acme/shop/prod" {
		t.Errorf("ntfy got %v %s", r.header, r.body)
	}
}

// smtpBackend records the mail a real SMTP server receives.
type smtpBackend struct{ got chan smtpMail }

type smtpMail struct {
	from string
	to   []string
	data string
	tls  bool
}

type smtpSession struct {
	c    *smtp.Conn
	b    *smtpBackend
	mail smtpMail
}

func (b *smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{c: c, b: b}, nil
}
func (s *smtpSession) Reset()        { s.mail = smtpMail{} }
func (s *smtpSession) Logout() error { return nil }
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	s.mail.from = from
	return nil
}
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.mail.to = append(s.mail.to, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mail.data = string(b)
	_, s.mail.tls = s.c.TLSConnectionState()
	s.b.got <- s.mail
	return nil
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// startSMTP runs a real SMTP server (go-smtp) with STARTTLS on loopback.
func startSMTP(t *testing.T) (string, chan smtpMail) {
	t.Helper()
	b := &smtpBackend{got: make(chan smtpMail, 4)}
	s := smtp.NewServer(b)
	s.Domain = "localhost"
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, MinVersion: tls.VersionTLS12}
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return ln.Addr().String(), b.got
}

func TestEmailOverSMTPWithSTARTTLS(t *testing.T) {
	addr, got := startSMTP(t)
	// skiptlsverify: the test server's certificate is self-signed.
	u := "smtp://" + addr + "/?from=quai@example.test&to=ops@example.test&auth=None&requirestarttls=Yes&skiptlsverify=Yes"
	ch, err := ParseChannel("mail", "", "", u)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Kind != KindSMTP {
		t.Fatalf("kind %s", ch.Kind)
	}
	if err := (&Notifier{}).Send(context.Background(), ch, sampleNote()); err != nil {
		t.Fatal(err)
	}
	m := <-got
	if !m.tls {
		t.Error("the mail was not sent over STARTTLS")
	}
	if m.from != "quai@example.test" || len(m.to) != 1 || m.to[0] != "ops@example.test" ||
		!strings.Contains(m.data, "Subject: [FIRING:1] acme/shop/prod") || !strings.Contains(m.data, "killed by signal 9 (SIGKILL)") {
		t.Errorf("mail from %s to %v:\n%s", m.from, m.to, m.data)
	}
	t.Logf("e-mail received over STARTTLS (tls=%v) from %s to %v:\n%s", m.tls, m.from, m.to, m.data)
}

func TestParseAndMaskChannels(t *testing.T) {
	for _, tc := range []struct{ url, kind, masked string }{
		{"https://hooks.slack.com/services/T0/B0/secrettoken", KindSlack, "https://hooks.slack.com/services/****"},
		{"https://discord.com/api/webhooks/123/tok", KindDiscord, "https://discord.com/api/****"},
		{"https://example.com/hook?key=abc", KindWebhook, "https://example.com/hook?key=****"},
		{"telegram://110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw@telegram?chats=@quai", KindTelegram, "telegram://****@telegram?chats=****"},
		{"smtp://user:pass@mail.example.com:587/?from=a@example.com&to=b@example.com", KindSMTP, "smtp://****@mail.example.com:587?from=****&to=****"},
		{"ntfy://ntfy.sh/quai-alerts", KindNtfy, "ntfy://ntfy.sh/quai-alerts"},
	} {
		ch, err := ParseChannel("c", "", "", tc.url)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if ch.Kind != tc.kind || ch.Masked() != tc.masked {
			t.Errorf("%s: kind %s masked %s, want %s %s", tc.url, ch.Kind, ch.Masked(), tc.kind, tc.masked)
		}
	}
	for _, bad := range []struct{ name, kind, url string }{
		{"Ops!", "", "https://x"}, {"c", "", "gopher://x"}, {"c", "telegram", "https://x"}, {"c", "slack", "discord://tok@id"},
	} {
		if _, err := ParseChannel(bad.name, "", bad.kind, bad.url); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
