package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/quai-dev/quai/internal/client"
	"github.com/quai-dev/quai/internal/wire"
)

type loginOptions struct {
	URL           string
	Token         string
	User          string
	PasswordStdin bool
	Name          string
	Fingerprint   string
	TokenName     string
	NoUse         bool
}

func newLoginCmd(g *globals) *cobra.Command {
	var o loginOptions
	cmd := &cobra.Command{
		Use:   "login URL",
		Short: "Log in to a remote quai daemon and store it as a context",
		Long: `login stores a daemon context for the network API of a quai daemon
(quai serve --listen :7443): its address, its pinned CA and a token, in
the user's config directory (quai/contexts.json, readable by the user
only). The new context becomes the one in use; ` + "`quai context use default`" + `
returns to the local daemon.

The daemon's certificate comes from quai's own API CA: its fingerprint,
printed by ` + "`quai serve`" + ` and ` + "`quai info`" + ` on the server, is pinned. Pass it
with --fingerprint, or check the one login shows and accept it (trust on
first use, at a terminal only). A certificate from a public CA (--acme-domain)
needs no pin.

Credentials: a token (--token, made with ` + "`quai token create`" + ` on the
server; - reads it from stdin), or a user whose password is asked without
echo (or read from stdin with --password-stdin), which the daemon exchanges
for a token.`,
		Example: `  quai login https://quai.example.net:7443 --token quai_user_... --fingerprint sha256:4f1c...
  quai login https://10.0.0.5:7443 --user alice --name staging
  echo "$QUAI_PASSWORD" | quai login https://quai.example.net:7443 --user ci --password-stdin --fingerprint sha256:4f1c...`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.URL = strings.TrimSuffix(args[0], "/")
			return g.login(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Token, "token", "", "an API token (quai token create on the server); - reads it from stdin")
	f.StringVar(&o.User, "user", "", "log in as this user; the password is asked without echo")
	f.BoolVar(&o.PasswordStdin, "password-stdin", false, "read the password of --user from stdin")
	f.StringVar(&o.Name, "name", "", "the context's name (default the daemon's host name)")
	f.StringVar(&o.Fingerprint, "fingerprint", "", "the SHA-256 fingerprint of the daemon's CA to pin (quai info on the server); required without a terminal")
	f.StringVar(&o.TokenName, "token-name", "", "with --user: the name of the token the daemon makes (default \"cli on HOST\")")
	f.BoolVar(&o.NoUse, "no-use", false, "store the context without making it the one in use")
	return cmd
}

func (g *globals) login(ctx context.Context, o loginOptions) error {
	if (o.Token == "") == (o.User == "") {
		return usageErrorf("pass either --token or --user")
	}
	if o.PasswordStdin && o.User == "" {
		return usageErrorf("--password-stdin goes with --user")
	}
	if o.PasswordStdin && o.Token == "-" {
		return usageErrorf("--password-stdin and --token - both read stdin: use one of them")
	}
	name := o.Name
	if name == "" {
		name = contextForURL(o.URL)
	}
	if name == defaultContext || !contextName.MatchString(name) {
		return usageErrorf("--name %q: a context's name is letters, digits, '.', '_' and '-' (and not %q, the local daemon)", name, defaultContext)
	}
	rc := &remoteContext{URL: o.URL, Created: time.Now().UTC()}
	if err := g.pin(ctx, rc, o.Fingerprint); err != nil {
		return err
	}
	// The pin is checked on a client that uses it before any secret is sent.
	c, err := rc.client()
	if err != nil {
		return err
	}
	defer c.Close()
	switch {
	case o.Token == "-":
		line, err := readLine(g.stdin)
		if err != nil && strings.TrimSpace(line) == "" {
			return usageErrorf("--token -: no token on stdin")
		}
		rc.Token = strings.TrimSpace(line)
	case o.Token != "":
		rc.Token = o.Token
	default:
		password, err := g.password(o)
		if err != nil {
			return err
		}
		tokenName := o.TokenName
		if tokenName == "" {
			host, _ := os.Hostname()
			tokenName = "cli on " + host
		}
		res, err := c.Login(ctx, wire.LoginRequest{User: o.User, Password: password, TokenName: tokenName})
		if err != nil {
			return &explainedError{msg: fmt.Sprintf("log in to %s as %s: %s", o.URL, o.User, apiMessage(err)), err: err}
		}
		rc.Token, rc.User, rc.Expires = res.Token, res.User, res.ExpiresAt
	}
	// The token works: the daemon answers an authenticated call.
	c, err = rc.client()
	if err != nil {
		return err
	}
	defer c.Close()
	info, err := c.Info(ctx)
	if err != nil {
		if errors.Is(err, client.ErrUnauthenticated) {
			return &explainedError{msg: fmt.Sprintf("%s refused the token: %s", o.URL, apiMessage(err)), err: err}
		}
		return err
	}
	if who, err := c.WhoAmI(ctx); err == nil && who.User != "" {
		rc.User = who.User
	}
	cf, path, err := loadContexts()
	if err != nil {
		return err
	}
	cf.Contexts[name] = rc
	if !o.NoUse {
		cf.Current = name
	}
	if err := cf.save(path); err != nil {
		return err
	}
	if g.JSON {
		return g.printJSON(contextView(name, rc, cf.Current == name))
	}
	who := ""
	if rc.User != "" {
		who = " as " + rc.User
	}
	fprintf(g.stdout, "logged in to %s%s (quai %s); context %q stored in %s\n", o.URL, who, info.Version, name, path)
	if !o.NoUse {
		fprintf(g.stdout, "now using context %q: quai verbs talk to that daemon; `quai context use default` returns to the local one\n", name)
	}
	return nil
}

// pin decides what rc trusts: the given fingerprint, the system's roots, or
// the certificate the server presents, once the user accepts it.
func (g *globals) pin(ctx context.Context, rc *remoteContext, fingerprint string) error {
	sc, err := client.ProbeTLS(ctx, rc.URL)
	if err != nil {
		return err
	}
	if fingerprint != "" {
		want, err := wire.ParseFingerprint(fingerprint)
		if err != nil {
			return &usageError{err}
		}
		rc.Fingerprint = want
		if sc.Fingerprint == want {
			rc.CAPEM = string(sc.PEM)
		}
		return nil
	}
	if sc.TrustedBySystem {
		return nil
	}
	if !g.interactive() {
		return fmt.Errorf("the certificate of %s is not from a CA this machine trusts, and there is no terminal to confirm it: pass --fingerprint %s after checking it is what `quai info` prints on the server",
			rc.URL, sc.Fingerprint)
	}
	fprintf(g.stderr, "The daemon at %s presents a certificate of\n  %s\n  fingerprint %s\n  for %s, valid until %s.\n"+
		"Check the fingerprint against what `quai serve` or `quai info` prints on the server.\n",
		rc.URL, sc.Subject, sc.Fingerprint, strings.Join(sc.Names, ", "), sc.NotAfter.Format(time.DateOnly))
	ok, err := g.confirm("Trust it for this context?")
	if err != nil {
		return err
	}
	if !ok {
		return declined("not trusted; nothing stored")
	}
	rc.Fingerprint, rc.CAPEM = sc.Fingerprint, string(sc.PEM)
	return nil
}

// password reads the password of --user from stdin or the terminal.
func (g *globals) password(o loginOptions) (string, error) {
	if o.PasswordStdin {
		line, err := readLine(g.stdin)
		if err != nil && line == "" {
			return "", usageErrorf("--password-stdin: no password on stdin")
		}
		return strings.TrimRight(line, "\r"), nil
	}
	fd, ok := terminalFd(g.stdin)
	if !ok || !term.IsTerminal(fd) {
		return "", usageErrorf("no terminal to ask the password of %s: pipe it with --password-stdin", o.User)
	}
	fprintf(g.stderr, "Password for %s: ", o.User)
	b, err := term.ReadPassword(fd)
	fprintln(g.stderr)
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	return string(b), nil
}
