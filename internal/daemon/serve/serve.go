// Package serve is the `quai serve` verb: it runs the daemon in the
// foreground. It lives beside the daemon rather than in internal/cli so that
// the CLI links no daemon code; cmd/quai hands it to the CLI.
package serve

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/quai-dev/quai/internal/daemon"
	"github.com/quai-dev/quai/internal/datadir"
)

type options struct {
	HTTP              string
	HTTPS             string
	ACMEEmail         string
	ACMECA            string
	LogLevel          string
	DockerHost        string
	DockerNetworkPool string
	MaxConns          int
	MaxConnsPerIP     int
	Kube              daemon.KubeConfig
	AlertsConfig      string
	HealthTimeout     time.Duration
	CrashLimit        int
	Metrics           daemon.MetricsConfig
	ProxyInDaemon     bool
	Remote            daemon.RemoteConfig
	Dashboard         string
}

// Command returns the `quai serve` command. It reads the CLI's shared
// flags (--data-dir, --socket, --json) from its parent; an error it returns
// exits with the CLI's error code.
func Command() *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the quai daemon in the foreground (for systemd and the like)",
		Long: `serve runs quai's control plane: state, runtimes, proxy, engine and the API
on a unix socket (DATA_DIR/quai.sock). Other verbs start it in the
background when it is not running. SIGTERM or SIGINT stop it gracefully;
running instances keep running and the next daemon re-attaches to them.

The proxy runs in its own process (quai proxy), which the daemon starts,
or adopts when one already runs, and leaves running when it stops: a
restarted or upgraded daemon drops no request. Stop it with quai proxy
stop; --http, --https and the connection limits apply to a proxy the
daemon starts.`,
		Example: `  quai serve                                    # proxy on :8080 and :8443
  quai serve --http :80 --https :443            # as root or with CAP_NET_BIND_SERVICE
  quai serve --http :80 --https :443 --acme-email ops@example.com --acme-ca staging  # try certificates first
  quai serve --http 127.0.0.1:8080 --https off  # this machine only, no TLS
  quai serve --data-dir /srv/quai --log-level debug
  quai serve --metrics 127.0.0.1:9100 --history-retention 720h  # Prometheus scrape target, 30 days of history
  quai serve --listen :7443 --listen-name quai.example.net  # the API over TLS for quai login (docs/remote.md)
  quai serve --listen :7443 --tls-cert api.crt --tls-key api.key
  quai serve --listen :7443 --acme-domain quai.example.net --acme-email ops@example.net
  quai serve --dashboard 127.0.0.1:7481         # the dashboard's loopback port (quai dashboard prints its link)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			flagDir, _ := f.GetString("data-dir")
			socket, _ := f.GetString("socket")
			asJSON, _ := f.GetBool("json")
			dir, err := datadir.Resolve(flagDir, os.Getenv, os.Geteuid())
			if err != nil {
				return err
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			var handler slog.Handler = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
			if asJSON {
				handler = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})
			}
			log := slog.New(handler)
			exe := ""
			if !o.ProxyInDaemon {
				if exe, err = os.Executable(); err != nil {
					return fmt.Errorf("find quai's executable for the proxy process: %w", err)
				}
			}
			d, err := daemon.New(daemon.Config{
				ProxyExecutable:    exe,
				ProxyLogLevel:      o.LogLevel,
				DataDir:            dir,
				Socket:             socket,
				HTTPAddr:           o.HTTP,
				HTTPSAddr:          o.HTTPS,
				ACMEEmail:          o.ACMEEmail,
				ACMECA:             o.ACMECA,
				DockerHost:         o.DockerHost,
				DockerNetworkPool:  o.DockerNetworkPool,
				ProxyMaxConns:      o.MaxConns,
				ProxyMaxConnsPerIP: o.MaxConnsPerIP,
				Kube:               o.Kube,
				AlertsConfig:       o.AlertsConfig,
				HealthTimeout:      o.HealthTimeout,
				CrashLimit:         o.CrashLimit,
				Metrics:            o.Metrics,
				Remote:             o.Remote,
				Dashboard:          dashboardConfig(o.Dashboard, f.Changed("dashboard") || os.Getenv("QUAI_DASHBOARD") != ""),
				Logger:             log,
			})
			if err != nil {
				return err
			}
			return d.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.HTTP, "http", envOr("QUAI_HTTP", daemon.DefaultHTTPAddr), "proxy HTTP listen address; the default binds every interface, 127.0.0.1:8080 this machine only; \"off\" disables it ($QUAI_HTTP)")
	f.StringVar(&o.HTTPS, "https", envOr("QUAI_HTTPS", daemon.DefaultHTTPSAddr), "proxy HTTPS listen address; the default binds every interface, 127.0.0.1:8443 this machine only; \"off\" disables it ($QUAI_HTTPS)")
	f.StringVar(&o.ACMEEmail, "acme-email", envOr("QUAI_ACME_EMAIL", ""), "contact address of the ACME account that obtains certificates for routes with tls: auto ($QUAI_ACME_EMAIL)")
	f.StringVar(&o.ACMECA, "acme-ca", envOr("QUAI_ACME_CA", "production"), "ACME CA of routes with tls: auto: production (Let's Encrypt), staging (Let's Encrypt's, untrusted certificates, generous rate limits) or a directory URL ($QUAI_ACME_CA)")
	f.IntVar(&o.MaxConns, "max-conns", 0, "most client connections the proxy holds (default from the open files limit: half of what a quarter kept for the daemon leaves)")
	f.IntVar(&o.MaxConnsPerIP, "max-conns-per-ip", 0, "most client connections the proxy holds from one address, an IPv6 /64 counting as one (default 256; -1 for no limit, e.g. behind a load balancer)")
	f.DurationVar(&o.HealthTimeout, "health-timeout", 0, "how long quai up waits for new replicas to become healthy on process and docker (default 2m)")
	f.IntVar(&o.CrashLimit, "crash-limit", 0, "how many crashes of a new replica fail quai up at once, without waiting for --health-timeout (default 3)")
	f.StringVar(&o.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&o.DockerHost, "docker-host", "", "Docker Engine of the docker runtime: unix://, tcp:// or ssh:// (default $DOCKER_HOST, else the local socket; \"off\" leaves the runtime out)")
	f.StringVar(&o.DockerNetworkPool, "docker-network-pool", envOr("QUAI_DOCKER_NETWORK_POOL", ""), "IPv4 range instance networks get /26 subnets from once the Docker Engine's own address pools are used up (default 10.213.0.0/16; $QUAI_DOCKER_NETWORK_POOL)")
	f.StringVar(&o.Kube.Kubeconfig, "kubeconfig", "", "kubeconfig of the kubernetes runtime (default $KUBECONFIG, else ~/.kube/config, else the in-cluster service account)")
	f.StringVar(&o.Kube.Context, "kube-context", envOr("QUAI_KUBE_CONTEXT", ""), "kubeconfig context of the kubernetes runtime (default the current one; $QUAI_KUBE_CONTEXT)")
	f.StringVar(&o.Kube.IngressClass, "kube-ingress-class", envOr("QUAI_KUBE_INGRESS_CLASS", ""), "ingressClassName of the Ingress objects routes become (default nginx; $QUAI_KUBE_INGRESS_CLASS)")
	f.StringVar(&o.Kube.IngressController, "kube-ingress-controller", envOr("QUAI_KUBE_INGRESS_CONTROLLER", ""), "the controller serving --kube-ingress-class, which route rules (allow, basic_auth, rate_limit...) are rendered for: nginx (ingress-nginx annotations), traefik (Middlewares) or other (security rules refused) (default traefik for the class traefik, else nginx; $QUAI_KUBE_INGRESS_CONTROLLER)")
	f.StringVar(&o.Kube.ClusterIssuer, "kube-cluster-issuer", envOr("QUAI_KUBE_CLUSTER_ISSUER", ""), "cert-manager ClusterIssuer of routes with tls: auto (default letsencrypt-prod; $QUAI_KUBE_CLUSTER_ISSUER)")
	f.StringVar(&o.Kube.StorageClass, "kube-storage-class", envOr("QUAI_KUBE_STORAGE_CLASS", ""), "storageClassName of volume claims (default the cluster's default class; $QUAI_KUBE_STORAGE_CLASS)")
	f.DurationVar(&o.Kube.RolloutTimeout, "kube-rollout-timeout", 0, "how long quai up waits for a rollout on kubernetes (default 5m)")
	f.BoolVar(&o.Kube.Off, "no-kubernetes", false, "leave the kubernetes runtime out")
	f.StringVar(&o.AlertsConfig, "alerts-config", envOr("QUAI_ALERTS_CONFIG", ""), "YAML file of alert rule defaults, in the syntax of x-quai.alerts (docs/alerts.md; $QUAI_ALERTS_CONFIG)")
	f.StringVar(&o.Metrics.Addr, "metrics", envOr("QUAI_METRICS", ""), "serve Prometheus metrics on this address, e.g. 127.0.0.1:9100 (default none; $QUAI_METRICS)")
	f.DurationVar(&o.Metrics.Retention, "history-retention", 0, "how long the metrics history keeps its coarsest (hourly) points; finer tiers keep at most 1 day (10 s) and 1 week (1 min) (default 2160h, 90 days)")
	f.BoolVar(&o.ProxyInDaemon, "proxy-in-daemon", false, "run the proxy inside the daemon, which then stops it with itself, instead of in its own process that outlives daemon restarts (docs/edge.md)")
	f.BoolVar(&o.Metrics.HistoryOff, "no-history", false, "keep no metrics history (DATA_DIR/metrics.db): quai metrics then fails, quai top and --metrics still work")
	f.StringVar(&o.Remote.Listen, "listen", envOr("QUAI_LISTEN", ""), "serve the API over TLS on this address too, e.g. :7443, for quai login from other machines (default the unix socket only; $QUAI_LISTEN)")
	f.StringSliceVar(&o.Remote.Names, "listen-name", nil, "more DNS names or addresses the certificate of quai's API CA covers, besides the host name and the listen addresses (repeatable)")
	f.StringVar(&o.Remote.CertFile, "tls-cert", "", "certificate chain (PEM) of the API listener instead of quai's own API CA; re-read when it changes and on SIGHUP")
	f.StringVar(&o.Remote.KeyFile, "tls-key", "", "private key (PEM) of --tls-cert")
	f.StringVar(&o.Remote.ACMEDomain, "acme-domain", "", "get the API listener's certificate for this public name from the ACME CA of --acme-ca, with the account of --acme-email (HTTP-01 through the proxy's HTTP port, which must be port 80 from the internet)")
	f.StringVar(&o.Dashboard, "dashboard", envOr("QUAI_DASHBOARD", daemon.DefaultDashboardAddr), "the dashboard's loopback listen address, opened with `quai dashboard`; \"off\" disables it (the dashboard on the network is served over TLS with --listen; $QUAI_DASHBOARD)")
	return cmd
}

// dashboardConfig reads --dashboard: "off" turns the listener off; the
// default port, when taken (another daemon on this machine), gives way to
// any free loopback port, while a port the user chose must be free.
func dashboardConfig(addr string, chosen bool) daemon.DashboardConfig {
	if addr == "off" {
		return daemon.DashboardConfig{}
	}
	return daemon.DashboardConfig{Addr: addr, AnyPortIfBusy: !chosen}
}

// envOr is the environment variable's value, or def when it is unset. The
// proxy addresses also come from the environment so that a daemon started
// in the background by another verb listens where the user chose.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
