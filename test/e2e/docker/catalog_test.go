package dockere2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/quai-dev/quai/internal/daemon/daemontest"
	"github.com/quai-dev/quai/internal/runtime/docker/dockertest"
	"github.com/quai-dev/quai/internal/wire"
	"github.com/quai-dev/quai/test/e2e/e2etest"
)

// The images the catalog's WordPress entry names. The test builds them
// from the host's Debian packages (mariadb-server; php8.2-cli,
// php8.2-mysql and wordpress) and tags them with these names in the test's
// engine only, removing the tags afterwards; the content-addressed
// quai-test/ images stay cached, so a rerun builds nothing.
const (
	wordpressImageName = "wordpress:6.6.2-php8.2-apache"
	mariadbImageName   = "mariadb:11.4.3"
	wpHost             = "blog.acme.localhost"
	wpInstance         = "acme/wordpress-prod"
)

// catalogMariaDBEntry starts MariaDB as the official image does: the data
// directory initialised on first start, then the root password, the
// database and its user (from MARIADB_* or their _FILE forms) set on every
// start.
const catalogMariaDBEntry = `#!/bin/sh
set -e
val() { eval "v=\${$1:-}"; eval "f=\${$1_FILE:-}"; if [ -z "$v" ] && [ -n "$f" ]; then read -r v < "$f" || :; fi; printf %s "$v"; }
root=$(val MARIADB_ROOT_PASSWORD); db=$(val MARIADB_DATABASE); user=$(val MARIADB_USER); pw=$(val MARIADB_PASSWORD)
d=/var/lib/mysql
if [ ! -d $d/mysql ]; then
  mariadbd --no-defaults --user=root --bootstrap --datadir=$d --basedir=/usr --log-warnings=0 --enforce-storage-engine="" --max_allowed_packet=8M --net_buffer_length=16K < /bootstrap.sql
fi
{
  printf "ALTER USER 'root'@'localhost' IDENTIFIED BY '%s';\n" "$root"
  [ -z "$db" ] || printf 'CREATE DATABASE IF NOT EXISTS %s;\n' "$db"
  if [ -n "$user" ]; then
    printf "CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s';\nALTER USER '%s'@'%%' IDENTIFIED BY '%s';\n" "$user" "$pw" "$user" "$pw"
    [ -z "$db" ] || printf "GRANT ALL ON %s.* TO '%s'@'%%';\n" "$db" "$user"
  fi
} > /tmp/init.sql
exec mariadbd --no-defaults --user=root --datadir=$d --basedir=/usr --socket=/run/mysqld/mysqld.sock --bind-address=0.0.0.0 --init-file=/tmp/init.sql --skip-name-resolve
`

// catalogMariaDBHealth stands in for the official image's healthcheck.sh.
const catalogMariaDBHealth = `#!/bin/sh
pw=$MARIADB_ROOT_PASSWORD
if [ -z "$pw" ] && [ -n "$MARIADB_ROOT_PASSWORD_FILE" ]; then read -r pw < "$MARIADB_ROOT_PASSWORD_FILE" || :; fi
MYSQL_PWD=$pw exec mariadb -uroot -e "SELECT 1" >/dev/null
`

// catalogWPConfig reads the database settings from the environment as the
// official image's wp-config-docker.php does (WORDPRESS_*, *_FILE).
const catalogWPConfig = `<?php
function quai_env($name, $default = '') {
	$f = getenv($name . '_FILE');
	if ($f) { return rtrim(file_get_contents($f), "\r\n"); }
	$v = getenv($name);
	return $v === false ? $default : $v;
}
define('DB_NAME', quai_env('WORDPRESS_DB_NAME', 'wordpress'));
define('DB_USER', quai_env('WORDPRESS_DB_USER', 'example username'));
define('DB_PASSWORD', quai_env('WORDPRESS_DB_PASSWORD'));
define('DB_HOST', quai_env('WORDPRESS_DB_HOST', 'mysql'));
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
foreach (array('AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY', 'AUTH_SALT', 'SECURE_AUTH_SALT', 'LOGGED_IN_SALT', 'NONCE_SALT') as $k) {
	define($k, quai_env('WORDPRESS_' . $k, 'quai-test-' . $k));
}
$table_prefix = quai_env('WORDPRESS_TABLE_PREFIX', 'wp_');
define('WP_DEBUG', in_array(quai_env('WORDPRESS_DEBUG'), array('1', 'true'), true));
if (isset($_SERVER['HTTP_X_FORWARDED_PROTO']) && $_SERVER['HTTP_X_FORWARDED_PROTO'] === 'https') { $_SERVER['HTTPS'] = 'on'; }
define('WP_CONTENT_DIR', '/var/www/html/wp-content');
define('AUTOMATIC_UPDATER_DISABLED', true);
if (!defined('ABSPATH')) { define('ABSPATH', __DIR__ . '/'); }
require_once ABSPATH . 'wp-settings.php';
`

// catalogImages builds the WordPress entry's images and tags them with the
// entry's names; the tags are removed when the test ends.
func catalogImages(t *testing.T, cli *client.Client) {
	t.Helper()
	mariadb := dockertest.HostImage(t, cli, dockertest.HostImageSpec{
		Name:     "catalog-mariadb",
		Programs: []string{"/usr/sbin/mariadbd", "/usr/bin/mariadb", "/usr/bin/mariadb-dump"},
		Trees:    []string{"/usr/share/mysql"},
		Files: map[string][]byte{"/entry.sh": []byte(catalogMariaDBEntry), "/bootstrap.sql": dockertest.MariaDBSystemTables(t),
			"/usr/local/bin/healthcheck.sh": []byte(catalogMariaDBHealth)},
		Dirs:    []string{"/var/lib/mysql", "/run/mysqld"},
		Changes: []string{"ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/bin", `CMD ["/entry.sh"]`, "EXPOSE 3306"},
	})
	exts, err := filepath.Glob("/usr/lib/php/20220829/*.so")
	if err != nil || len(exts) == 0 {
		msg := "PHP 8.2's extensions are not installed: run scripts/deps.sh"
		if dockertest.CI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	wordpress := dockertest.HostImage(t, cli, dockertest.HostImageSpec{
		Name:     "catalog-wordpress",
		Programs: append([]string{"/usr/bin/php8.2"}, exts...),
		// Debian's PHP reads the system's time zones.
		Trees: []string{"/usr/share/wordpress", "/etc/php/8.2", "/usr/share/zoneinfo"},
		Files: map[string][]byte{
			"/usr/share/wordpress/wp-config.php":       []byte(catalogWPConfig),
			"/etc/php/8.2/cli/conf.d/99-quai-test.ini": []byte("date.timezone = UTC\n"),
			// PHP's own web server stands in for Apache: same document
			// root, same environment, port 80 (as root, as the image does).
			"/entry.sh": []byte("#!/bin/sh\nexec php8.2 -S 0.0.0.0:80 -t /usr/share/wordpress\n"),
		},
		Dirs:    []string{"/var/www/html/wp-content"},
		Changes: []string{"ENV PATH=/usr/bin:/bin", "ENV PHP_CLI_SERVER_WORKERS=4", `CMD ["/entry.sh"]`, "EXPOSE 80"},
	})
	tagForTest(t, cli, map[string]string{mariadb: mariadbImageName, wordpress: wordpressImageName})
}

// tagForTest tags each image (source → upstream name) for the test and
// removes the tags when it ends; the content-addressed images stay.
func tagForTest(t *testing.T, cli *client.Client, tags map[string]string) {
	t.Helper()
	for src, name := range tags {
		dockertest.TagImage(t, cli, src, name)
		t.Cleanup(func() { untag(t, cli, name) })
	}
}

func untag(t *testing.T, cli *client.Client, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cli.ImageRemove(ctx, name, client.ImageRemoveOptions{}); err != nil {
		t.Logf("untag %s: %v", name, err)
	}
}

// wpPage fetches path of the WordPress site through quai's proxy.
func wpPage(d *daemontest.Daemon, method, path string, form url.Values) (int, string, error) {
	code, _, body, err := proxyRequest(d, wpHost, method, path, form)
	return code, body, err
}

// proxyRequest sends a request for host's path to quai's proxy; a form is
// posted url-encoded. Redirects are not followed.
func proxyRequest(d *daemontest.Daemon, host, method, path string, form url.Values) (int, http.Header, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, "http://"+d.ProxyHTTPAddr()+path, body)
	if err != nil {
		return 0, nil, "", err
	}
	req.Host = host
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	hc := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

var (
	styleRe = regexp.MustCompile(`(?s)<(style|script)[^>]*>.*?</(style|script)>`)
	tagRe   = regexp.MustCompile(`<[^>]*>`)
	blankRe = regexp.MustCompile(`\s*\n\s*`)
)

// pageText is an HTML page's text, for failure messages.
func pageText(html string) string {
	return strings.TrimSpace(blankRe.ReplaceAllString(tagRe.ReplaceAllString(styleRe.ReplaceAllString(html, ""), ""), "\n"))
}

var titleRe = regexp.MustCompile(`<title>([^<]*)</title>`)

// blogName is the site title wp-login.php shows ("Log In ‹ NAME — WordPress").
func blogName(t *testing.T, d *daemontest.Daemon) string {
	t.Helper()
	code, body, err := wpPage(d, http.MethodGet, "/wp-login.php", nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("wp-login.php through the proxy: %d, %v\n%.2000s", code, err, body)
	}
	m := titleRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("wp-login.php has no title:\n%.2000s", body)
	}
	return m[1]
}

// manualBackup is the newest successful manual backup of the instance's
// service.
func manualBackup(t *testing.T, socket, instance, service string) wire.BackupRun {
	t.Helper()
	out := e2etest.MustQuai(t, socket, "backup", "ls", instance, "--json")
	var l wire.BackupList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("quai backup ls --json: %v\n%s", err, out)
	}
	for _, r := range l.Runs {
		if r.Status == wire.BackupDone && r.Trigger == wire.TriggerManual && r.Service == service {
			return r
		}
	}
	t.Fatalf("no backup of %s in:\n%s", service, out)
	return wire.BackupRun{}
}

// TestCatalogWordPressOnDocker installs the catalog's WordPress entry on a
// real Docker Engine with `quai catalog install` (settings, generated and
// sealed secrets, the plan, the deploy), answers WordPress's install page
// through quai's proxy, installs the site, backs it up (a real
// mariadb-dump of its database and a snapshot of wp-content), changes and
// restores its data, then updates it twice as an ordinary up with a plan:
// a changed setting, and a newer version of the entry from a team catalog.
func TestCatalogWordPressOnDocker(t *testing.T) {
	cli, host := engine(t)
	catalogImages(t, cli)
	d := daemontest.Start(t, daemontest.Options{DockerHost: host, HealthTimeout: 3 * time.Minute, DrainTimeout: 5 * time.Second})
	dir := filepath.Join(t.TempDir(), "wordpress-acme-prod")

	start := time.Now()
	out := e2etest.MustQuai(t, d.Socket, "--data-dir", d.DataDir, "catalog", "install", "wordpress", "--org", "acme", "--env", "prod",
		"--host", wpHost, "--dir", dir, "--runtime", "docker", "-y")
	deployed := time.Since(start)
	t.Logf("quai catalog install:\n%s", out)
	for _, want := range []string{"wrote " + dir, "generated and sealed db_password, db_root_password in orgs/acme/secrets/prod.yaml", "wordpress", wpHost} {
		if !strings.Contains(out, want) {
			t.Errorf("catalog install output lacks %q", want)
		}
	}
	var code int
	var body string
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if code, body, err = wpPage(d, http.MethodGet, "/wp-admin/install.php", nil); err == nil && code == http.StatusOK {
			break
		}
	}
	answered := time.Since(start)
	if code != http.StatusOK || !strings.Contains(body, "WordPress") {
		t.Fatalf("WordPress's install page through the proxy: %d, %v\n%.2000s", code, err, body)
	}
	t.Logf("FIGURE catalog install wordpress → install page answering through the proxy: %s (deploy returned after %s)", answered.Round(time.Millisecond), deployed.Round(time.Millisecond))

	// The folder is the instance's source: sealed secrets, settings, host.
	sealed, err := os.ReadFile(filepath.Join(dir, "orgs", "acme", "secrets", "prod.yaml"))
	if err != nil || !strings.Contains(string(sealed), "ENC[") {
		t.Fatalf("sealed secrets file: %v\n%s", err, sealed)
	}
	if env, _ := os.ReadFile(filepath.Join(dir, ".env")); !strings.Contains(string(env), "QUAI_HOST="+wpHost) {
		t.Errorf(".env:\n%s", env)
	}

	code, body, err = wpPage(d, http.MethodPost, "/wp-admin/install.php?step=2", url.Values{
		"weblog_title": {"Catalog Blog"}, "user_name": {"admin"}, "admin_password": {"Qu4i-test-passw0rd!"},
		"admin_password2": {"Qu4i-test-passw0rd!"}, "pw_weak": {"1"}, "admin_email": {"admin@example.com"}, "blog_public": {"0"},
	})
	if err != nil || code != http.StatusOK || !strings.Contains(body, "Success") {
		logs, _ := e2etest.Quai(t, d.Socket, "logs", wpInstance, "wordpress", "--tail", "50")
		t.Fatalf("installing WordPress: %d, %v\n%s\nlogs:\n%s", code, err, pageText(body), logs)
	}
	if name := blogName(t, d); !strings.Contains(name, "Catalog Blog") {
		t.Fatalf("title after the install: %q", name)
	}

	out = e2etest.MustQuai(t, d.Socket, "backup", wpInstance)
	t.Logf("quai backup:\n%s", out)
	snap := manualBackup(t, d.Socket, wpInstance, "db")
	if snap.Kind != "mysql" || snap.Bytes == 0 {
		t.Fatalf("db backup: %+v", snap)
	}
	e2etest.MustQuai(t, d.Socket, "exec", wpInstance, "db", "--", "sh", "-c",
		`read -r pw < "$MARIADB_ROOT_PASSWORD_FILE" || :; MYSQL_PWD=$pw mariadb -uroot wordpress -e "UPDATE wp_options SET option_value='Changed' WHERE option_name='blogname'"`)
	if name := blogName(t, d); !strings.Contains(name, "Changed") {
		t.Fatalf("title after the change: %q", name)
	}
	out = e2etest.MustQuai(t, d.Socket, "restore", wpInstance, "--snapshot", snap.Snapshot, "-y")
	t.Logf("quai restore:\n%s", out)
	if name := blogName(t, d); !strings.Contains(name, "Catalog Blog") {
		t.Fatalf("title after the restore: %q, want Catalog Blog again", name)
	}

	// An update: a changed setting is an ordinary up with a plan.
	out = e2etest.MustQuai(t, d.Socket, "--data-dir", d.DataDir, "catalog", "install", "wordpress", "--org", "acme", "--env", "prod",
		"--dir", dir, "--set", "WORDPRESS_DEBUG=true", "-y")
	t.Logf("quai catalog install --set WORDPRESS_DEBUG=true:\n%s", out)
	if !strings.Contains(out, "updated "+dir) || !strings.Contains(out, "wordpress") || strings.Contains(out, "generated and sealed") {
		t.Errorf("settings update output:\n%s", out)
	}
	if name := blogName(t, d); !strings.Contains(name, "Catalog Blog") {
		t.Fatalf("title after the settings update: %q", name)
	}

	// A newer version of the entry, from a team's catalog.
	team := filepath.Join(t.TempDir(), "team")
	copyEntry(t, dir, filepath.Join(team, "wordpress"))
	hdr := filepath.Join(team, "wordpress", "catalog.yaml")
	b, err := os.ReadFile(hdr)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "version: 1.0.0", "version: 2.0.0", 1))
	b = append(b, []byte("  - to: 2\n    notes: Test upgrade note.\n")...)
	if err := os.WriteFile(hdr, b, 0o600); err != nil {
		t.Fatal(err)
	}
	compose := filepath.Join(team, "wordpress", "compose.yaml")
	cb, _ := os.ReadFile(compose)
	if err := os.WriteFile(compose, []byte(strings.Replace(string(cb), "size: small", "size: medium", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	e2etest.MustQuai(t, d.Socket, "--data-dir", d.DataDir, "catalog", "add", team)
	out = e2etest.MustQuai(t, d.Socket, "--data-dir", d.DataDir, "catalog", "install", "team/wordpress", "--org", "acme", "--env", "prod", "--dir", dir, "-y")
	t.Logf("quai catalog install team/wordpress (2.0.0):\n%s", out)
	for _, want := range []string{"1.0.0 -> 2.0.0", "Test upgrade note", "wordpress"} {
		if !strings.Contains(out, want) {
			t.Errorf("upgrade output lacks %q", want)
		}
	}
	if name := blogName(t, d); !strings.Contains(name, "Catalog Blog") {
		t.Fatalf("title after the upgrade: %q", name)
	}
	st, err := d.Client.Status(t.Context(), wpInstance)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("status after the upgrade: %s", fmt.Sprint(st.URLs))
}

// copyEntry copies an installed folder's entry files (not .env, the
// override, secrets) as a team's catalog entry.
func copyEntry(t *testing.T, from, to string) {
	t.Helper()
	for _, f := range []string{"catalog.yaml", "compose.yaml"} {
		b, err := os.ReadFile(filepath.Join(from, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(to, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
