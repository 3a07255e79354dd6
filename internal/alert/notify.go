package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"

	"github.com/quai-dev/quai/internal/wire"
)

// Channel kinds.
const (
	KindWebhook  = "webhook"
	KindSlack    = "slack"
	KindDiscord  = "discord"
	KindTelegram = "telegram"
	KindTeams    = "teams"
	KindNtfy     = "ntfy"
	KindSMTP     = "smtp"
)

// Kinds lists the channel kinds.
var Kinds = []string{KindDiscord, KindNtfy, KindSlack, KindSMTP, KindTeams, KindTelegram, KindWebhook}

// Webhook headers (docs/alerts.md shows how to verify the signature).
const (
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with the
	// channel's secret, of HeaderTimestamp's value, ".", and the body.
	HeaderSignature = "X-Quai-Signature"
	// HeaderTimestamp is the Unix time of the delivery, in seconds; a
	// receiver refuses deliveries too old (replays).
	HeaderTimestamp = "X-Quai-Timestamp"
	// HeaderEvent is "alert" (or "test" for `quai alerts test`).
	HeaderEvent = "X-Quai-Event"
)

// ErrChannel is returned for a channel that is not valid.
var ErrChannel = errors.New("invalid notification channel")

// Channel is a notification channel with its URL in the clear: only the
// state file's sealed copy is ever written, and only Masked is shown.
type Channel struct {
	Name string
	// Org scopes the channel to an organization's instances; "" is global.
	Org  string
	Kind string
	URL  string
	// Secret is a webhook's HMAC key.
	Secret  string
	Created time.Time
}

// viaShoutrrr reports whether the channel is sent through shoutrrr: every
// kind given as a shoutrrr URL (slack://, discord://, telegram://,
// teams://, ntfy://, smtp://). Slack and Discord given as their https
// webhook URL, and the generic webhook, are posted by quai itself: shoutrrr
// sends Slack and Discord only to hooks.slack.com and discord.com, where a
// Slack-compatible server (Mattermost, Rocket.Chat) or a test receiver
// cannot stand in.
func (c Channel) viaShoutrrr() bool {
	u, err := url.Parse(c.URL)
	return err == nil && u.Scheme != "http" && u.Scheme != "https"
}

var channelName = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]{0,62})$`)

// ParseChannel checks a channel's name, kind and URL; an empty kind is
// taken from the URL (an https Slack or Discord webhook URL, a shoutrrr
// URL, else a generic webhook).
func ParseChannel(name, org, kind, rawURL string) (Channel, error) {
	if !channelName.MatchString(name) {
		return Channel{}, fmt.Errorf("%w: name %q: use lowercase letters, digits, - and _", ErrChannel, name)
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return Channel{}, fmt.Errorf("%w %s: the URL does not parse: give https://... for a webhook, or a URL such as slack://, discord://, telegram://, teams://, ntfy:// or smtp:// (docs/alerts.md)", ErrChannel, name)
	}
	guess := ""
	switch u.Scheme {
	case "http", "https":
		switch {
		case u.Host == "hooks.slack.com":
			guess = KindSlack
		case (u.Host == "discord.com" || u.Host == "discordapp.com") && strings.HasPrefix(u.Path, "/api/webhooks/"):
			guess = KindDiscord
		default:
			guess = KindWebhook
		}
		if kind != "" && kind != KindWebhook && kind != KindSlack && kind != KindDiscord {
			return Channel{}, fmt.Errorf("%w %s: a %s channel takes a %s:// URL (docs/alerts.md), not an http(s) one", ErrChannel, name, kind, kind)
		}
	default:
		if !slices.Contains(Kinds, u.Scheme) || u.Scheme == KindWebhook {
			return Channel{}, fmt.Errorf("%w %s: unknown URL scheme %q: the kinds are %s", ErrChannel, name, u.Scheme, strings.Join(Kinds, ", "))
		}
		guess = u.Scheme
		if kind != "" && kind != guess {
			return Channel{}, fmt.Errorf("%w %s: kind %s does not match the URL's scheme %s://", ErrChannel, name, kind, u.Scheme)
		}
		if _, err := shoutrrrService(rawURL); err != nil {
			return Channel{}, fmt.Errorf("%w %s: %w", ErrChannel, name, err)
		}
	}
	if kind == "" {
		kind = guess
	}
	return Channel{Name: name, Org: org, Kind: kind, URL: rawURL}, nil
}

// Masked is the channel's URL with what may be a token hidden: the
// user and password, every path segment after the first, and every query
// value.
func (c Channel) Masked() string { return MaskURL(c.URL) }

// MaskURL hides the secrets a notification URL may hold.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "****"
	}
	var b strings.Builder
	b.WriteString(u.Scheme + "://")
	if u.User != nil {
		b.WriteString("****@")
	}
	b.WriteString(u.Host)
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(segs) > 0 && segs[0] != "" {
		b.WriteString("/" + segs[0])
		if len(segs) > 1 {
			b.WriteString("/****")
		}
	}
	if q := u.Query(); len(q) > 0 {
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k+"=****")
		}
		slices.Sort(keys)
		b.WriteString("?" + strings.Join(keys, "&"))
	}
	return b.String()
}

// Notifier delivers notifications to channels.
type Notifier struct {
	// HTTP posts webhooks (and Slack and Discord webhooks); default a
	// client with a 10 s timeout.
	HTTP *http.Client
	// Logger receives shoutrrr's diagnostics; default discard.
	Logger *slog.Logger
	// Attempts is how many times a delivery is tried (3), with 1 s, 2 s...
	// between them.
	Attempts int
	// Now stamps webhook deliveries; default time.Now.
	Now func() time.Time
}

func (n *Notifier) client() *http.Client {
	if n.HTTP != nil {
		return n.HTTP
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// Send delivers one notification to ch, retrying failures.
func (n *Notifier) Send(ctx context.Context, ch Channel, note wire.AlertNotification) error {
	attempts := max(n.Attempts, 1)
	if n.Attempts == 0 {
		attempts = 3
	}
	var err error
	for i := range attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(time.Duration(i) * time.Second):
			}
		}
		if err = n.send(ctx, ch, note); err == nil || errors.Is(err, errPermanent) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("notify channel %s (%s, %s): %w", ch.Name, ch.Kind, ch.Masked(), err)
	}
	return nil
}

// errPermanent marks a failure retrying will not fix (a 4xx answer).
var errPermanent = errors.New("refused")

func (n *Notifier) send(ctx context.Context, ch Channel, note wire.AlertNotification) error {
	title, body := Render(note)
	if ch.viaShoutrrr() {
		return n.sendShoutrrr(ctx, ch, title, body)
	}
	var payload []byte
	var err error
	switch ch.Kind {
	case KindSlack:
		payload, err = json.Marshal(slackPayload(note, title, body))
	case KindDiscord:
		payload, err = json.Marshal(discordPayload(note, title, body))
	default:
		payload, err = json.Marshal(note)
	}
	if err != nil {
		return err
	}
	return n.post(ctx, ch, note, payload)
}

func (n *Notifier) post(ctx context.Context, ch Channel, note wire.AlertNotification, payload []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ch.URL, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "quai-alerts/1")
	if ch.Kind == KindWebhook {
		now := time.Now
		if n.Now != nil {
			now = n.Now
		}
		ts := strconv.FormatInt(now().Unix(), 10)
		event := "alert"
		if note.Test {
			event = "test"
		}
		req.Header.Set(HeaderEvent, event)
		req.Header.Set(HeaderTimestamp, ts)
		if ch.Secret != "" {
			req.Header.Set(HeaderSignature, Sign([]byte(ch.Secret), ts, payload))
		}
	}
	resp, err := n.client().Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests:
		return fmt.Errorf("%w: the receiver answered %s: %s", errPermanent, resp.Status, strings.TrimSpace(string(msg)))
	}
	return fmt.Errorf("the receiver answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
}

// Sign is the value of HeaderSignature for a delivery: "sha256=" and the
// hex HMAC-SHA256 of timestamp + "." + body keyed with secret.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a delivery's signature in constant time.
func Verify(secret []byte, timestamp string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature))
}

func shoutrrrService(rawURL string) (types.Service, error) {
	r, err := router.New(log.New(io.Discard, "", 0))
	if err != nil {
		return nil, err
	}
	svc, err := r.Locate(rawURL)
	if err != nil {
		return nil, fmt.Errorf("shoutrrr refuses the URL: %w", err)
	}
	return svc, nil
}

func (n *Notifier) sendShoutrrr(ctx context.Context, ch Channel, title, body string) error {
	svc, err := shoutrrrService(ch.URL)
	if err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	params := types.Params{types.TitleKey: title}
	if ch.Kind == KindSMTP {
		params["subject"] = title
	}
	done := make(chan error, 1)
	go func() { done <- svc.Send(body, &params) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Render is a notification as a title and a plain-text body, for chat and
// e-mail channels.
func Render(note wire.AlertNotification) (string, string) {
	firing := 0
	for _, a := range note.Alerts {
		if a.Status == wire.AlertFiring {
			firing++
		}
	}
	var title string
	switch {
	case note.Test:
		title = "[TEST] quai alerts reach this channel"
	case firing > 0:
		title = fmt.Sprintf("[FIRING:%d] %s", firing, note.Instance)
	default:
		title = fmt.Sprintf("[RESOLVED] %s", note.Instance)
	}
	var b strings.Builder
	for _, a := range note.Alerts {
		state := strings.ToUpper(a.Status)
		if a.Repeat {
			state += " (still)"
		}
		fmt.Fprintf(&b, "%s %s %s: %s\n", state, a.Severity, a.Rule, a.Summary)
		if a.Detail != "" {
			fmt.Fprintf(&b, "  %s\n", a.Detail)
		}
		if a.Status == wire.AlertResolved {
			fmt.Fprintf(&b, "  from %s to %s\n", a.Started.UTC().Format(time.RFC3339), a.Resolved.UTC().Format(time.RFC3339))
		} else {
			fmt.Fprintf(&b, "  since %s\n", a.Started.UTC().Format(time.RFC3339))
		}
	}
	if note.Test {
		b.WriteString("This is a test notification sent by `quai alerts test`.\n")
	}
	return title, b.String()
}

const (
	colorFiring   = 0xd00000
	colorResolved = 0x2eb886
	colorTest     = 0x439fe0
)

func noteColor(note wire.AlertNotification) int {
	switch {
	case note.Test:
		return colorTest
	case note.Status == wire.AlertFiring:
		return colorFiring
	}
	return colorResolved
}

// slackPayload is a Slack incoming-webhook message (also understood by
// Mattermost and Rocket.Chat).
func slackPayload(note wire.AlertNotification, title, body string) map[string]any {
	return map[string]any{
		"text": title,
		"attachments": []map[string]any{{
			"color":    fmt.Sprintf("#%06x", noteColor(note)),
			"title":    title,
			"text":     body,
			"fallback": title,
			"ts":       note.Sent.Unix(),
		}},
	}
}

// discordPayload is a Discord webhook message.
func discordPayload(note wire.AlertNotification, title, body string) map[string]any {
	return map[string]any{
		"content": title,
		"embeds": []map[string]any{{
			"title":       title,
			"description": body,
			"color":       noteColor(note),
			"timestamp":   note.Sent.UTC().Format(time.RFC3339),
		}},
	}
}
