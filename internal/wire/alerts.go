package wire

import "time"

// Alert statuses.
const (
	AlertFiring   = "firing"
	AlertResolved = "resolved"
)

// Alert is one alert: a rule that fired for an instance (and a subject
// within it: a service, a replica, a host name), from when it fired until
// it resolved.
type Alert struct {
	// ID names the alert: instance/rule[/subject].
	ID       string `json:"id"`
	Instance string `json:"instance"`
	Org      string `json:"org,omitempty"`
	Rule     string `json:"rule"`
	// Subject is what within the instance the alert is about, if anything.
	Subject  string `json:"subject,omitempty"`
	Severity string `json:"severity"`
	Status   string `json:"status"`
	// Summary is one line for people; Detail says more (an error message).
	Summary string    `json:"summary"`
	Detail  string    `json:"detail,omitempty"`
	Started time.Time `json:"started"`
	// Updated is when the condition was last seen (a new crash, a new poll).
	Updated  time.Time `json:"updated"`
	Resolved time.Time `json:"resolved,omitzero"`
	// Count is how many times the condition was seen while the alert was
	// active (crashes, failed backups).
	Count int `json:"count"`
	// Notified is when a notification last went out; Notifications counts them.
	Notified      time.Time `json:"notified,omitzero"`
	Notifications int       `json:"notifications"`
	// Silenced is set while a silence matches the alert.
	Silenced bool `json:"silenced,omitempty"`
}

// AlertList is GET /alerts.
type AlertList struct {
	Active   []Alert        `json:"active"`
	History  []Alert        `json:"history,omitempty"`
	Silences []AlertSilence `json:"silences,omitempty"`
}

// AlertSilence mutes the notifications of an instance's alerts (of one rule
// when Rule is set) until Until.
type AlertSilence struct {
	ID       string    `json:"id"`
	Instance string    `json:"instance"`
	Rule     string    `json:"rule,omitempty"`
	Until    time.Time `json:"until"`
	Created  time.Time `json:"created"`
	Comment  string    `json:"comment,omitempty"`
}

// SilenceRequest is POST /alerts/silences.
type SilenceRequest struct {
	Instance string        `json:"instance"`
	Rule     string        `json:"rule,omitempty"`
	For      time.Duration `json:"for"`
	Comment  string        `json:"comment,omitempty"`
}

// AlertChannel is a notification channel. URL is masked (tokens and
// passwords replaced) in everything the API returns.
type AlertChannel struct {
	Name string `json:"name"`
	// Org is the organization whose instances' alerts the channel gets;
	// empty means every instance (a global channel).
	Org string `json:"org,omitempty"`
	// Kind is webhook, slack, discord, telegram, teams, ntfy or smtp.
	Kind string `json:"kind"`
	URL  string `json:"url"`
	// Signed is set for webhooks that sign their payloads (X-Quai-Signature).
	Signed  bool      `json:"signed,omitempty"`
	Created time.Time `json:"created"`
	// LastError is the last delivery failure, cleared by a success.
	LastError string    `json:"last_error,omitempty"`
	LastSent  time.Time `json:"last_sent,omitzero"`
}

// ChannelRequest is POST /alerts/channels. Secret, for webhooks, is the
// HMAC key; empty asks the daemon to generate one, which the answer holds
// (the only time it is shown).
type ChannelRequest struct {
	Name   string `json:"name"`
	Org    string `json:"org,omitempty"`
	Kind   string `json:"kind,omitempty"`
	URL    string `json:"url"`
	Secret string `json:"secret,omitempty"`
}

// ChannelCreated is the answer to POST /alerts/channels.
type ChannelCreated struct {
	Channel AlertChannel `json:"channel"`
	// Secret is the webhook's signing key, shown once.
	Secret string `json:"secret,omitempty"`
}

// ChannelTest is the answer to POST /alerts/channels/{name}/test.
type ChannelTest struct {
	Channel  string        `json:"channel"`
	Duration time.Duration `json:"duration"`
}

// AlertNotification is what a notification carries: the alerts of one
// instance that fired, repeat or resolved together. The generic webhook
// posts it as JSON (docs/alerts.md); chat and e-mail channels render it
// as text.
type AlertNotification struct {
	// Version is the payload's layout version.
	Version  int    `json:"version"`
	Instance string `json:"instance"`
	Org      string `json:"org,omitempty"`
	// Status is firing when any alert fires, else resolved.
	Status string          `json:"status"`
	Alerts []NotifiedAlert `json:"alerts"`
	Sent   time.Time       `json:"sent"`
	Test   bool            `json:"test,omitempty"`
	Daemon string          `json:"daemon,omitempty"`
}

// NotifiedAlert is one alert in a notification.
type NotifiedAlert struct {
	ID       string    `json:"id"`
	Rule     string    `json:"rule"`
	Subject  string    `json:"subject,omitempty"`
	Severity string    `json:"severity"`
	Status   string    `json:"status"`
	Summary  string    `json:"summary"`
	Detail   string    `json:"detail,omitempty"`
	Started  time.Time `json:"started"`
	Resolved time.Time `json:"resolved,omitzero"`
	// Repeat is set when the alert was notified before and still fires.
	Repeat bool `json:"repeat,omitempty"`
	Count  int  `json:"count,omitempty"`
}
