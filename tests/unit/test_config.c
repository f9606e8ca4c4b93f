/*
 * test_config: the INI loader against files written to /tmp. Every global
 * key is set to a non-default value and read back; every value type's errors
 * are checked with their exact "file:line: key: reason" text; [databases]
 * connection strings, [users], SET, SHOW CONFIG rendering and the reload diff.
 */
#include "sluice/config.h"
#include "sluice/log.h"

#include "unit.h"

#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <unistd.h>

#define SEC INT64_C(1000000)

static char tmp_path[64];

/* Write `len` bytes of `text` to a new temporary file; its name is in tmp_path. */
static void write_tmp(const char *text, size_t len)
{
	strcpy(tmp_path, "/tmp/sluice-config-XXXXXX");
	int fd = mkstemp(tmp_path);
	if (fd < 0) {
		perror("mkstemp");
		exit(2);
	}
	if (write(fd, text, len) != (ssize_t)len) {
		perror("write");
		exit(2);
	}
	close(fd);
}

/* Load `len` bytes as a config file; err gets the message with the path cut off. */
static struct config *load_bytes(const char *text, size_t len, char *err, size_t errlen)
{
	char full[512] = "";

	write_tmp(text, len);
	struct config *cfg = config_load(tmp_path, full, sizeof(full));
	unlink(tmp_path);
	size_t plen = strlen(tmp_path);
	if (strncmp(full, tmp_path, plen) == 0)
		snprintf(err, errlen, "%s", full + plen);
	else
		snprintf(err, errlen, "%s", full);
	return cfg;
}

static struct config *load_text(const char *text, char *err, size_t errlen)
{
	return load_bytes(text, strlen(text), err, errlen);
}

/* stderr capture, to see the warnings the loader logs. */
static int saved_stderr = -1;
static char capture_path[64];

static void capture_begin(void)
{
	strcpy(capture_path, "/tmp/sluice-config-log-XXXXXX");
	int fd = mkstemp(capture_path);
	fflush(stderr);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

/* Stop capturing; returns what was written (caller frees). */
static char *capture_end(void)
{
	static char buf[8192];
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	FILE *f = fopen(capture_path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
	unlink(capture_path);
	return strdup(buf);
}

/* ---- defaults ---------------------------------------------------------- */

struct count_arg {
	bool quiet; /* differences are expected */
	int n;
	int differing;
	int reloadable;
};

static void count_key(const char *key, const char *value, const char *def, bool reloadable,
		      void *arg)
{
	struct count_arg *c = arg;
	c->n++;
	c->reloadable += reloadable;
	if (strcmp(value, def) != 0) {
		if (!c->quiet)
			fprintf(stderr, "default of %s renders as '%s', table says '%s'\n", key,
				value, def);
		c->differing++;
	}
}

static void test_defaults(void)
{
	char err[512];
	struct config *cfg = load_text("[databases]\n[sluice]\n", err, sizeof(err));

	CHECK(cfg != NULL);
	if (cfg == NULL)
		return;
	CHECK_STR(cfg->listen_addr, "127.0.0.1");
	CHECK(cfg->listen_port == 6432);
	CHECK_STR(cfg->unix_socket_dir, "/tmp");
	CHECK(cfg->unix_socket_mode == 0777);
	CHECK(cfg->listen_backlog == 128);
	CHECK(cfg->auth_type == AUTH_TYPE_MD5);
	CHECK(cfg->auth_file == NULL);
	CHECK(cfg->auth_hba_file == NULL && cfg->auth_ident_file == NULL);
	CHECK(cfg->auth_user == NULL && cfg->auth_dbname == NULL);
	/* PgBouncer 1.25's: an expired role (VALID UNTIL passed) gets a NULL password */
	CHECK_STR(cfg->auth_query, "SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL "
				   "ELSE rolpassword END FROM pg_authid WHERE rolname=$1 AND "
				   "rolcanlogin");
	CHECK(cfg->pool_mode == POOL_MODE_SESSION);
	CHECK(cfg->max_client_conn == 100);
	CHECK(cfg->default_pool_size == 20);
	CHECK(cfg->min_pool_size == 0);
	CHECK(cfg->reserve_pool_size == 0);
	CHECK(cfg->reserve_pool_timeout == 5 * SEC);
	CHECK(cfg->max_db_connections == 0);
	CHECK(cfg->max_user_connections == 0);
	CHECK_STR(cfg->server_reset_query, "DISCARD ALL");
	CHECK(cfg->server_reset_query_always == false);
	CHECK_STR(cfg->server_check_query, "select 1");
	CHECK(cfg->server_check_delay == 30 * SEC);
	CHECK(cfg->server_lifetime == 3600 * SEC);
	CHECK(cfg->server_idle_timeout == 600 * SEC);
	CHECK(!cfg->server_round_robin);
	CHECK(cfg->server_connect_timeout == 15 * SEC);
	CHECK(cfg->server_login_retry == 15 * SEC);
	CHECK(cfg->internal_query_timeout == 30 * SEC);
	CHECK(cfg->query_timeout == 0);
	CHECK(cfg->query_wait_timeout == 120 * SEC);
	CHECK(cfg->client_idle_timeout == 0);
	CHECK(cfg->client_login_timeout == 60 * SEC);
	CHECK(cfg->idle_transaction_timeout == 0);
	CHECK(cfg->suspend_timeout == 10 * SEC);
	CHECK(cfg->stats_period == 60 * SEC);
	CHECK(cfg->max_packet_size == INT_MAX);
	CHECK(cfg->pkt_buf == 4096);
	CHECK(cfg->ignore_startup_parameters != NULL && cfg->ignore_startup_parameters[0] == NULL);
	CHECK(!cfg->application_name_add_host);
	CHECK(cfg->max_prepared_statements == 200);
	CHECK(cfg->log_connections && cfg->log_disconnections);
	CHECK(cfg->log_pooler_errors && cfg->log_stats);
	CHECK(cfg->log_format == LOG_FORMAT_TEXT);
	CHECK(cfg->logfile == NULL && cfg->pidfile == NULL);
	CHECK(cfg->verbose == 0);
	CHECK(cfg->tcp_keepalive);
	CHECK(cfg->tcp_keepidle == 0 && cfg->tcp_keepintvl == 0 && cfg->tcp_keepcnt == 0);
	CHECK(cfg->tcp_user_timeout == 0 && cfg->tcp_socket_buffer == 0);
	CHECK(cfg->dns_max_ttl == 15 * SEC);
	CHECK(cfg->resolv_conf == NULL);
	CHECK(!cfg->config_watch);
	CHECK(cfg->client_tls_sslmode == SSLMODE_DISABLE && cfg->client_tls_key_file == NULL);
	CHECK_STR(cfg->client_tls_protocols, "secure");
	CHECK(cfg->server_tls_sslmode == SSLMODE_PREFER && cfg->server_tls_ca_file == NULL);
	CHECK(cfg->admin_listen_addr == NULL);
	CHECK(cfg->admin_port == 6433);
	CHECK(cfg->admin_users != NULL && cfg->admin_users[0] == NULL);
	CHECK(cfg->stats_users != NULL && cfg->stats_users[0] == NULL);
	CHECK(cfg->warn_waiting_clients == 10);
	CHECK(cfg->n_dbs == 0 && cfg->n_users == 0);

	/* Every key's default renders exactly as the table's default text. */
	struct count_arg c = { false, 0, 0, 0 };
	config_foreach_key(cfg, count_key, &c);
	CHECK(c.n == 91);
	CHECK(c.differing == 0);
	CHECK(c.reloadable == 91 - 12);
	config_free(cfg);
}

/* ---- every key set to a non-default value -------------------------------- */

static const char every_key_ini[] =
	"; every global key, none at its default\n"
	"[sluice]\n"
	"listen_addr = *\n"
	"listen_port = 7432\n"
	"unix_socket_dir = /var/run/sluice\n"
	"unix_socket_mode = 0700\n"
	"listen_backlog = 512\n"
	"auth_type = scram-sha-256\n"
	"auth_file = /etc/sluice/userlist.txt\n"
	"auth_hba_file = /etc/sluice/hba.conf\n"
	"auth_ident_file = /etc/sluice/ident.conf\n"
	"auth_user = pgbouncer\n"
	"auth_query = SELECT uname, phash FROM pgbouncer.user_lookup($1)\n"
	"auth_dbname = authdb\n"
	"pool_mode = transaction\n"
	"max_client_conn = 5000\n"
	"default_pool_size = 50\n"
	"min_pool_size = 5\n"
	"reserve_pool_size = 3\n"
	"reserve_pool_timeout = 2.5\n"
	"max_db_connections = 80\n"
	"max_user_connections = 90\n"
	"server_reset_query = RESET ALL; SET SESSION AUTHORIZATION DEFAULT\n"
	"server_reset_query_always = yes\n"
	"server_check_query = \n"
	"server_check_delay = 500ms\n"
	"server_lifetime = 2h\n"
	"server_idle_timeout = 5min\n"
	"server_round_robin = 1\n"
	"server_connect_timeout = 3s\n"
	"server_login_retry = 1\n"
	"internal_query_timeout = 250ms\n"
	"query_timeout = 1d\n"
	"query_wait_timeout = 0\n"
	"client_idle_timeout = 300\n"
	"client_login_timeout = 0.25\n"
	"idle_transaction_timeout = 45\n"
	"suspend_timeout = 20\n"
	"stats_period = 15\n"
	"max_packet_size = 1048576\n"
	"pkt_buf = 8192\n"
	"ignore_startup_parameters = extra_float_digits, search_path ,,options\n"
	"application_name_add_host = 1\n"
	"max_prepared_statements = 7\n"
	"log_connections = off\n"
	"log_disconnections = false\n"
	"log_pooler_errors = no\n"
	"log_stats = 0\n"
	"log_format = json\n"
	"logfile = /var/log/sluice.log\n"
	"pidfile = /run/sluice.pid\n"
	"verbose = 2\n"
	"tcp_keepalive = 0\n"
	"tcp_keepidle = 30\n"
	"tcp_keepintvl = 5\n"
	"tcp_keepcnt = 4\n"
	"tcp_user_timeout = 10000\n"
	"tcp_socket_buffer = 65536\n"
	"dns_max_ttl = 2.5\n"
	"resolv_conf = /etc/sluice/resolv.conf\n"
	"config_watch = 1\n"
	"client_tls_sslmode = verify-full\n"
	"client_tls_key_file = /etc/sluice/server.key\n"
	"client_tls_cert_file = /etc/sluice/server.crt\n"
	"client_tls_ca_file = /etc/sluice/ca.crt\n"
	"client_tls_protocols = tlsv1.3\n"
	"client_tls_ciphers = HIGH:!aNULL\n"
	"client_tls13_ciphers = TLS_AES_256_GCM_SHA384\n"
	"client_tls_ecdhcurve = prime256v1\n"
	"client_tls_dheparams = none\n"
	"server_tls_sslmode = verify-ca\n"
	"server_tls_ca_file = /etc/sluice/root.crt\n"
	"server_tls_key_file = /etc/sluice/client.key\n"
	"server_tls_cert_file = /etc/sluice/client.crt\n"
	"server_tls_protocols = all\n"
	"server_tls_ciphers = fast\n"
	"server_tls13_ciphers = TLS_CHACHA20_POLY1305_SHA256\n"
	"admin_listen_addr = 0.0.0.0\n"
	"admin_port = 0\n"
	"admin_users = admin, root\n"
	"stats_users = monitor\n"
	"warn_waiting_clients = 3\n"
	"shutdown_delay = 5\n"
	"shutdown_timeout = 30\n"
	"so_reuseport = 1\n"
	"peer_id = 7\n"
	"status_page = 0\n"
	"query_insight = 0\n"
	"query_stats_max = 100\n"
	"query_log_min_duration = 250\n"
	"query_metrics_top = 5\n"
	"n_plus_one_threshold = 3\n"
	"n_plus_one_window = 2.5\n"
	"[databases]\n";

static void test_every_key(void)
{
	char err[512];
	struct config *cfg = load_text(every_key_ini, err, sizeof(err));

	CHECK(cfg != NULL);
	if (cfg == NULL) {
		fprintf(stderr, "error: %s\n", err);
		return;
	}
	CHECK_STR(cfg->listen_addr, "*");
	CHECK(cfg->listen_port == 7432);
	CHECK_STR(cfg->unix_socket_dir, "/var/run/sluice");
	CHECK(cfg->unix_socket_mode == 0700);
	CHECK(cfg->listen_backlog == 512);
	CHECK(cfg->auth_type == AUTH_TYPE_SCRAM);
	CHECK_STR(cfg->auth_file, "/etc/sluice/userlist.txt");
	CHECK_STR(cfg->auth_hba_file, "/etc/sluice/hba.conf");
	CHECK_STR(cfg->auth_ident_file, "/etc/sluice/ident.conf");
	CHECK_STR(cfg->auth_user, "pgbouncer");
	CHECK_STR(cfg->auth_query, "SELECT uname, phash FROM pgbouncer.user_lookup($1)");
	CHECK_STR(cfg->auth_dbname, "authdb");
	CHECK(cfg->pool_mode == POOL_MODE_TRANSACTION);
	CHECK(cfg->max_client_conn == 5000);
	CHECK(cfg->default_pool_size == 50);
	CHECK(cfg->min_pool_size == 5);
	CHECK(cfg->reserve_pool_size == 3);
	CHECK(cfg->reserve_pool_timeout == 2500000);
	CHECK(cfg->max_db_connections == 80);
	CHECK(cfg->max_user_connections == 90);
	/* no inline comments: the whole line after '=' is the value */
	CHECK_STR(cfg->server_reset_query, "RESET ALL; SET SESSION AUTHORIZATION DEFAULT");
	CHECK(cfg->server_reset_query_always == true);
	CHECK_STR(cfg->server_check_query, "");
	CHECK(cfg->server_check_delay == 500000);
	CHECK(cfg->server_lifetime == 7200 * SEC);
	CHECK(cfg->server_idle_timeout == 300 * SEC);
	CHECK(cfg->server_round_robin);
	CHECK(cfg->server_connect_timeout == 3 * SEC);
	CHECK(cfg->server_login_retry == 1 * SEC);
	CHECK(cfg->internal_query_timeout == SEC / 4);
	CHECK(cfg->query_timeout == 86400 * SEC);
	CHECK(cfg->query_wait_timeout == 0);
	CHECK(cfg->client_idle_timeout == 300 * SEC);
	CHECK(cfg->client_login_timeout == 250000);
	CHECK(cfg->idle_transaction_timeout == 45 * SEC);
	CHECK(cfg->suspend_timeout == 20 * SEC);
	CHECK(cfg->stats_period == 15 * SEC);
	CHECK(cfg->max_packet_size == 1048576);
	CHECK(cfg->pkt_buf == 8192);
	CHECK(cfg->application_name_add_host);
	CHECK(cfg->max_prepared_statements == 7);
	char **isp = cfg->ignore_startup_parameters;
	CHECK(isp[0] && isp[1] && isp[2] && !isp[3]);
	CHECK_STR(isp[0], "extra_float_digits");
	CHECK_STR(isp[1], "search_path");
	CHECK_STR(isp[2], "options");
	CHECK(!cfg->log_connections && !cfg->log_disconnections);
	CHECK(!cfg->log_pooler_errors && !cfg->log_stats);
	CHECK(cfg->log_format == LOG_FORMAT_JSON);
	CHECK_STR(cfg->logfile, "/var/log/sluice.log");
	CHECK_STR(cfg->pidfile, "/run/sluice.pid");
	CHECK(cfg->verbose == 2);
	CHECK(!cfg->tcp_keepalive);
	CHECK(cfg->tcp_keepidle == 30 && cfg->tcp_keepintvl == 5 && cfg->tcp_keepcnt == 4);
	CHECK(cfg->tcp_user_timeout == 10000 && cfg->tcp_socket_buffer == 65536);
	CHECK(cfg->dns_max_ttl == 2500000);
	CHECK_STR(cfg->resolv_conf, "/etc/sluice/resolv.conf");
	CHECK(cfg->config_watch);
	CHECK(cfg->client_tls_sslmode == SSLMODE_VERIFY_FULL);
	CHECK_STR(cfg->client_tls_ca_file, "/etc/sluice/ca.crt");
	CHECK_STR(cfg->client_tls13_ciphers, "TLS_AES_256_GCM_SHA384");
	CHECK(cfg->server_tls_sslmode == SSLMODE_VERIFY_CA);
	CHECK_STR(cfg->server_tls_cert_file, "/etc/sluice/client.crt");
	CHECK_STR(cfg->admin_listen_addr, "0.0.0.0");
	CHECK(cfg->admin_port == 0);
	CHECK(config_list_has(cfg->admin_users, "admin"));
	CHECK(config_list_has(cfg->admin_users, "root"));
	CHECK(!config_list_has(cfg->admin_users, "monitor"));
	CHECK(config_list_has(cfg->stats_users, "monitor"));
	CHECK(cfg->warn_waiting_clients == 3);
	CHECK(cfg->shutdown_delay == 5 * SEC && cfg->shutdown_timeout == 30 * SEC);
	CHECK(cfg->so_reuseport && cfg->peer_id == 7);
	CHECK(!config_list_has(NULL, "x"));

	/* With every key changed, every key renders differently from its default. */
	struct count_arg c = { true, 0, 0, 0 };
	config_foreach_key(cfg, count_key, &c);
	CHECK(c.n == 91 && c.differing == 91);
	config_free(cfg);
}

/* ---- SHOW CONFIG rendering ------------------------------------------------- */

struct find_arg {
	const char *key;
	char value[256];
	char def[256];
	bool reloadable;
};

static void find_key(const char *key, const char *value, const char *def, bool reloadable,
		     void *arg)
{
	struct find_arg *f = arg;
	if (strcmp(key, f->key) != 0)
		return;
	snprintf(f->value, sizeof(f->value), "%s", value);
	snprintf(f->def, sizeof(f->def), "%s", def);
	f->reloadable = reloadable;
}

static const char *shown(const struct config *cfg, const char *key)
{
	static struct find_arg f;
	memset(&f, 0, sizeof(f));
	f.key = key;
	strcpy(f.value, "(missing)");
	config_foreach_key(cfg, find_key, &f);
	return f.value;
}

static void test_render(void)
{
	char err[512];
	struct config *cfg = load_text(every_key_ini, err, sizeof(err));

	CHECK(cfg != NULL);
	if (cfg == NULL)
		return;
	CHECK_STR(shown(cfg, "reserve_pool_timeout"), "2.5");
	CHECK_STR(shown(cfg, "server_check_delay"), "0.5");
	CHECK_STR(shown(cfg, "server_lifetime"), "7200");
	CHECK_STR(shown(cfg, "client_login_timeout"), "0.25");
	CHECK_STR(shown(cfg, "unix_socket_mode"), "0700");
	CHECK_STR(shown(cfg, "auth_type"), "scram-sha-256");
	CHECK_STR(shown(cfg, "pool_mode"), "transaction");
	CHECK_STR(shown(cfg, "log_connections"), "0");
	CHECK_STR(shown(cfg, "server_reset_query_always"), "1");
	CHECK_STR(shown(cfg, "ignore_startup_parameters"),
		  "extra_float_digits,search_path,options");
	CHECK_STR(shown(cfg, "admin_users"), "admin,root");
	CHECK_STR(shown(cfg, "listen_port"), "7432");
	CHECK_STR(shown(cfg, "no_such_key"), "(missing)");
	config_free(cfg);
}

/* ---- errors: exact "file:line: key: reason" -------------------------------- */

static const struct {
	const char *ini;
	const char *err; /* after the file name */
} error_cases[] = {
	{ "[sluice]\nlisten_port = abc\n", ":2: listen_port: invalid integer 'abc'" },
	{ "[sluice]\n\n; c\nlisten_port = 70000\n",
	  ":4: listen_port: 70000 out of range 1..65535" },
	{ "[sluice]\nlisten_port = 0\n", ":2: listen_port: 0 out of range 1..65535" },
	{ "[sluice]\nlisten_port = 99999999999\n",
	  ":2: listen_port: invalid integer '99999999999'" },
	{ "[sluice]\nlisten_port = 12 34\n", ":2: listen_port: invalid integer '12 34'" },
	{ "[sluice]\nadmin_port = -1\n", ":2: admin_port: -1 out of range 0..65535" },
	{ "[sluice]\ndefault_pool_size = -5\n",
	  ":2: default_pool_size: -5 is too small, minimum 0" },
	{ "[sluice]\nmax_packet_size = 1000\n",
	  ":2: max_packet_size: 1000 is too small, minimum 1024" },
	{ "[sluice]\npkt_buf = 100000000\n", ":2: pkt_buf: 100000000 out of range 1024..16777216" },
	{ "[sluice]\nmax_client_conn = 0\n", ":2: max_client_conn: 0 is too small, minimum 1" },
	{ "[sluice]\nlog_stats = maybe\n",
	  ":2: log_stats: invalid boolean 'maybe' (use 0/1, on/off, true/false, yes/no)" },
	{ "[sluice]\nquery_timeout = 5 weeks\n", ":2: query_timeout: invalid duration '5 weeks' "
						 "(seconds, or a number with ms, s, min, h or d)" },
	{ "[sluice]\nquery_timeout = -1\n", ":2: query_timeout: invalid duration '-1' (seconds, or "
					    "a number with ms, s, min, h or d)" },
	{ "[sluice]\nquery_timeout = 99999999999999999999\n",
	  ":2: query_timeout: invalid duration '99999999999999999999' (seconds, or a number with "
	  "ms, s, "
	  "min, h or d)" },
	{ "[sluice]\nstats_period = 0\n", ":2: stats_period: must be at least 1 s" },
	{ "[sluice]\npool_mode = sometimes\n",
	  ":2: pool_mode: invalid value 'sometimes' (one of: session, transaction, statement)" },
	/* hba needs its file; the error is at the auth_type line, after the whole file */
	{ "[databases]\n[sluice]\nlisten_port = 6500\nauth_type = hba\nverbose = 1\n",
	  ":4: auth_type: hba needs auth_hba_file" },
	{ "[databases]\n[sluice]\nauth_type = hba\nauth_hba_file =\n",
	  ":3: auth_type: hba needs auth_hba_file" },
	{ "[sluice]\nauth_type = pam\n", ":2: auth_type: 'pam' is not supported (one of: trust, "
					 "plain, md5, scram-sha-256, hba, cert)" },
	{ "[sluice]\nunix_socket_mode = 0789\n",
	  ":2: unix_socket_mode: invalid octal mode '0789'" },
	{ "[sluice]\nunix_socket_mode = 01777\n",
	  ":2: unix_socket_mode: mode 1777 out of range 0000..0777" },
	{ "listen_port = 6432\n[sluice]\n",
	  ":1: listen_port: key outside of any section (put it under [sluice])" },
	{ "[sluice]\nlisten_port 6432\n", ":2: syntax error (expected [section] or key = value)" },
	{ "[sluice\n", ":1: syntax error (expected [section] or key = value)" },
	{ "[sluice]\n%include other.ini\n", ":2: %include is not supported" },
	{ "[pgbouncer]\nclient_tls_sslmode = sometimes\n",
	  ":2: client_tls_sslmode: invalid value 'sometimes' (one of: disable, allow, prefer, "
	  "require, verify-ca, verify-full)" },
	{ "[pgbouncer]\n\nserver_tls_sslmode = verify\n",
	  ":3: server_tls_sslmode: invalid value 'verify' (one of: disable, allow, prefer, "
	  "require, verify-ca, verify-full)" },
	{ "[databases]\nfoo = host=x bogus=1\n", ":2: foo: unknown parameter 'bogus'" },
	{ "[databases]\nfoo = host=x auth_users=y\n", ":2: foo: unknown parameter 'auth_users'" },
	{ "[databases]\nfoo = auth_query='SELECT 1\n",
	  ":2: foo: unterminated quoted value for 'auth_query'" },
	{ "[databases]\nfoo = port=0\n", ":2: foo: port: 0 out of range 1..65535" },
	{ "[databases]\nfoo = pool_size=big\n", ":2: foo: pool_size: invalid integer 'big'" },
	{ "[databases]\nfoo = pool_mode=weird\n",
	  ":2: foo: pool_mode: invalid value 'weird' (one of: session, transaction, statement)" },
	{ "[databases]\nfoo = password='secret\n",
	  ":2: foo: unterminated quoted value for 'password'" },
	{ "[databases]\nfoo = password='a'b\n",
	  ":2: foo: unexpected text after the quoted value of 'password'" },
	/* an unquoted password with a space: the message must not echo it */
	{ "[databases]\nfoo = password=my secret\n",
	  ":2: foo: expected key=value after the value of 'password'" },
	{ "[databases]\nfoo = =x\n", ":2: foo: expected key=value" },
	{ "[databases]\n = host=x\n", ":2: empty database name" },
	{ "[users]\nbob = pool_size=-1\n", ":2: bob: pool_size: -1 is too small, minimum 0" },
	{ "[users]\nbob = host=x\n", ":2: bob: unknown parameter 'host'" },
	{ "[users]\nbob = pool_mode=none\n",
	  ":2: bob: pool_mode: invalid value 'none' (one of: session, transaction, statement)" },
	/* the first error wins, later lines are not looked at */
	{ "[pgbouncer]\nlisten_port = x\nlisten_port = y\n",
	  ":2: listen_port: invalid integer 'x'" },
	/* CRLF files count lines the same way */
	{ "[sluice]\r\n\r\nverbose = loud\r\n", ":3: verbose: invalid integer 'loud'" },
};

static void test_errors(void)
{
	char err[512];

	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		struct config *cfg = load_text(error_cases[i].ini, err, sizeof(err));
		CHECK(cfg == NULL);
		CHECK_STR(err, error_cases[i].err);
		config_free(cfg);
	}

	/* a line over the limit */
	size_t n = 20000;
	char *big = malloc(n + 64);
	strcpy(big, "[sluice]\nlogfile = ");
	memset(big + strlen(big), 'x', n);
	strcpy(big + 19 + n, "\nverbose = 1\n");
	struct config *cfg = load_text(big, err, sizeof(err));
	CHECK(cfg == NULL);
	CHECK_STR(err, ":2: line longer than 16381 bytes");
	free(big);

	/* a missing file */
	char full[512];
	cfg = config_load("/nonexistent/sluice.ini", full, sizeof(full));
	CHECK(cfg == NULL);
	CHECK_STR(full, "/nonexistent/sluice.ini: No such file or directory");
}

/* ---- files that would load as an empty configuration ---------------------- */

/* a string literal and its length, NUL bytes included */
#define BYTES(lit) lit, sizeof(lit) - 1

#define NO_SECTIONS ": no [databases] section and no [sluice] (or [pgbouncer]) section"

/* Each is refused at start, by --check and on reload, all through config_load. */
static const struct {
	const char *what;
	const char *bytes;
	size_t len;
	const char *err;
} bad_files[] = {
	{ "empty", BYTES(""), NO_SECTIONS },
	{ "blank lines", BYTES("\n\n  \n"), NO_SECTIONS },
	{ "comments only", BYTES("; sluice.ini\n# nothing here yet\n;[databases]\n"), NO_SECTIONS },
	{ "only [users]", BYTES("[users]\nbob = pool_size=1\n"), NO_SECTIONS },
	{ "only [databases]", BYTES("[databases]\nappdb = host=127.0.0.1\n"),
	  ": no [sluice] (or [pgbouncer]) section" },
	{ "only [sluice]", BYTES("[sluice]\nlisten_port = 6500\nauth_file = /etc/u.txt\n"),
	  ": no [databases] section" },
	{ "only [pgbouncer]", BYTES("[pgbouncer]\n"), ": no [databases] section" },
	{ "a misspelt section", BYTES("[database]\na = host=x\n[sluice]\n"),
	  ": no [databases] section" },
	{ "NUL in a value", BYTES("[databases]\n[sluice]\nauth_file = /etc/u\0.txt\n"),
	  ":3: NUL byte in line" },
	{ "NUL in a comment", BYTES("; x\0y\n[databases]\n[sluice]\n"), ":1: NUL byte in line" },
	{ "NUL on a last line without newline", BYTES("[databases]\n[sluice]\n\0"),
	  ":3: NUL byte in line" },
	{ "NUL bytes only", BYTES("\0\0\0\0"), ":1: NUL byte in line" },
};

/* Debian's stock /etc/pgbouncer/pgbouncer.ini, comments shortened: [databases] is empty. */
static const char debian_pgbouncer_ini[] = ";; database name = connect string\n"
					   ";;\n"
					   ";; connect string params:\n"
					   ";;   dbname= host= port= user= password= auth_user=\n"
					   "[databases]\n"
					   "\n"
					   ";; foodb over Unix socket\n"
					   ";foodb =\n"
					   "\n"
					   ";; Configuration section\n"
					   "[users]\n"
					   "\n"
					   ";user1 = pool_mode=session\n"
					   "\n"
					   "[pgbouncer]\n"
					   "\n"
					   ";;;\n"
					   ";;; Administrative settings\n"
					   ";;;\n"
					   "\n"
					   "logfile = /var/log/postgresql/pgbouncer.log\n"
					   "pidfile = /var/run/postgresql/pgbouncer.pid\n"
					   "\n"
					   ";;;\n"
					   ";;; Where to wait for clients\n"
					   ";;;\n"
					   "\n"
					   ";; IP address or * which means all IPs\n"
					   "listen_addr = localhost\n"
					   "listen_port = 6432\n"
					   "\n"
					   ";; Unix socket is also used for -R.\n"
					   ";; On Debian it should be /var/run/postgresql\n"
					   ";unix_socket_dir = /tmp\n"
					   ";unix_socket_mode = 0777\n"
					   ";unix_socket_group =\n"
					   "unix_socket_dir = /var/run/postgresql\n"
					   "\n"
					   ";;;\n"
					   ";;; Authentication settings\n"
					   ";;;\n"
					   "\n"
					   ";; any, trust, plain, md5, cert, hba, pam\n"
					   "auth_type = md5\n"
					   "auth_file = /etc/pgbouncer/userlist.txt\n";

static void test_sections(void)
{
	char err[512];

	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		capture_begin(); /* the misspelt section is warned about */
		struct config *cfg =
			load_bytes(bad_files[i].bytes, bad_files[i].len, err, sizeof(err));
		free(capture_end());
		CHECK(cfg == NULL);
		if (cfg != NULL || strcmp(err, bad_files[i].err) != 0)
			fprintf(stderr, "bad file '%s' gave: %s\n", bad_files[i].what,
				cfg ? "a config" : err);
		CHECK_STR(err, bad_files[i].err);
		config_free(cfg);
	}

	/* the first error is the one reported: a bad value before the missing section */
	struct config *cfg = load_text("[sluice]\nlisten_port = x\n", err, sizeof(err));
	CHECK(cfg == NULL);
	CHECK_STR(err, ":2: listen_port: invalid integer 'x'");

	/* section names are case-insensitive; empty sections are enough */
	cfg = load_text("[DATABASES]\n[PgBouncer]\n", err, sizeof(err));
	CHECK(cfg != NULL && cfg->n_dbs == 0);
	config_free(cfg);

	/* Debian's stock pgbouncer.ini: empty [databases], keys in [pgbouncer], no warnings */
	capture_begin();
	cfg = load_text(debian_pgbouncer_ini, err, sizeof(err));
	char *log = capture_end();
	CHECK(cfg != NULL);
	if (cfg == NULL)
		fprintf(stderr, "Debian's pgbouncer.ini: %s\n", err);
	CHECK_STR(log, "");
	CHECK(cfg == NULL || (cfg->n_dbs == 0 && cfg->n_users == 0));
	CHECK(cfg == NULL || cfg->auth_type == AUTH_TYPE_MD5);
	CHECK(cfg == NULL ||
	      (cfg->auth_file && !strcmp(cfg->auth_file, "/etc/pgbouncer/userlist.txt")));
	CHECK(cfg == NULL ||
	      (cfg->logfile && !strcmp(cfg->logfile, "/var/log/postgresql/pgbouncer.log")));
	free(log);
	config_free(cfg);
}

/* ---- value syntax ------------------------------------------------------- */

static const struct {
	const char *text;
	usec_t usec;
	const char *shown;
} durations[] = {
	{ "0", 0, "0" },
	{ "10", 10 * SEC, "10" },
	{ "0.5", 500000, "0.5" },
	{ ".5", 500000, "0.5" },
	{ "1.25s", 1250000, "1.25" },
	{ "250ms", 250000, "0.25" },
	{ "1 ms", 1000, "0.001" },
	{ "2min", 120 * SEC, "120" },
	{ "1.5h", 5400 * SEC, "5400" },
	{ "1d", 86400 * SEC, "86400" },
	{ "0.0000015", 1, "0.000001" },
};

static const struct {
	const char *text;
	bool value;
} bools[] = {
	{ "1", true },    { "0", false },     { "on", true },  { "off", false },
	{ "true", true }, { "FALSE", false }, { "yes", true }, { "No", false },
};

static void test_value_syntax(void)
{
	char err[512];
	struct config *cfg = load_text("[sluice]\n[databases]\n", err, sizeof(err));

	CHECK(cfg != NULL);
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		CHECK(config_set_key(cfg, "query_timeout", durations[i].text, err, sizeof(err)));
		CHECK(cfg->query_timeout == durations[i].usec);
		CHECK_STR(shown(cfg, "query_timeout"), durations[i].shown);
	}
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		CHECK(config_set_key(cfg, "log_stats", bools[i].text, err, sizeof(err)));
		CHECK(cfg->log_stats == bools[i].value);
	}
	CHECK(config_set_key(cfg, "pool_mode", "Statement", err, sizeof(err)));
	CHECK(cfg->pool_mode == POOL_MODE_STATEMENT);
	CHECK(config_set_key(cfg, "auth_type", "trust", err, sizeof(err)));
	CHECK(cfg->auth_type == AUTH_TYPE_TRUST);
	CHECK(config_set_key(cfg, "auth_type", "plain", err, sizeof(err)));
	CHECK(cfg->auth_type == AUTH_TYPE_PLAIN);
	CHECK(config_set_key(cfg, "admin_users", " a ,b,, c ", err, sizeof(err)));
	CHECK_STR(shown(cfg, "admin_users"), "a,b,c");
	CHECK(config_set_key(cfg, "admin_users", "", err, sizeof(err)));
	CHECK(cfg->admin_users[0] == NULL);
	CHECK(config_set_key(cfg, "auth_file", "", err, sizeof(err)));
	CHECK(cfg->auth_file == NULL);
	/* hba without its file is refused, and the key keeps its value */
	CHECK(!config_set_key(cfg, "auth_type", "hba", err, sizeof(err)));
	CHECK_STR(err, "auth_type: hba needs auth_hba_file");
	CHECK(cfg->auth_type == AUTH_TYPE_PLAIN);
	CHECK(config_set_key(cfg, "auth_hba_file", "/etc/hba.conf", err, sizeof(err)));
	CHECK(config_set_key(cfg, "auth_type", "hba", err, sizeof(err)));
	CHECK(cfg->auth_type == AUTH_TYPE_HBA);
	CHECK(!config_set_key(cfg, "auth_hba_file", "", err, sizeof(err)));
	CHECK_STR(err, "auth_type: hba needs auth_hba_file");
	CHECK_STR(cfg->auth_hba_file, "/etc/hba.conf");
	CHECK(config_set_key(cfg, "auth_ident_file", "/etc/ident.conf", err, sizeof(err)));
	CHECK_STR(shown(cfg, "auth_ident_file"), "/etc/ident.conf");
	CHECK(config_parse_pool_mode("transaction") == POOL_MODE_TRANSACTION);
	CHECK(config_parse_pool_mode("nope") == POOL_MODE_UNSET);
	CHECK_STR(config_pool_mode_str(POOL_MODE_SESSION), "session");
	CHECK_STR(config_pool_mode_str(POOL_MODE_UNSET), "");
	config_free(cfg);
}

/* ---- [databases] and [users] -------------------------------------------- */

static const char dbs_ini[] =
	"[databases]\n"
	"full = host=db.example.com port=5433 dbname=real user=app password='pa ss''wd' "
	"pool_size=7 min_pool_size=2 reserve_pool=1 pool_mode=statement max_db_connections=9 "
	"connect_query='SELECT ''a''; SELECT 2' client_encoding=UTF8 datestyle='ISO, MDY' "
	"timezone=UTC application_name=sluice-app auth_user=lookup auth_dbname=authdb "
	"auth_query='SELECT u, p FROM f($1) WHERE x = ''y'''\n"
	"  indented = host=/var/run/postgresql reserve_pool_size=4\n"
	"empty =\n"
	"dup = dbname=first\n"
	"* = host=fallback port = 6000\n"
	"dup = dbname=second\n"
	"\n"
	"[users]\n"
	"alice = pool_mode=transaction pool_size=3 max_user_connections=4\n"
	"bob =\n"
	"\n"
	"[pgbouncer]\n"
	"listen_port = 6500\n";

static void test_databases(void)
{
	char err[512];

	capture_begin();
	struct config *cfg = load_text(dbs_ini, err, sizeof(err));
	char *log = capture_end();
	CHECK(cfg != NULL);
	if (cfg == NULL) {
		fprintf(stderr, "error: %s\n", err);
		free(log);
		return;
	}
	CHECK(strstr(log, ":7: database dup was already defined on line 5") != NULL);
	free(log);
	CHECK(cfg->listen_port == 6500);
	CHECK(cfg->n_dbs == 5);

	const struct config_db *db = config_find_db(cfg, "full");
	CHECK(db != NULL && db->line == 2);
	CHECK_STR(db->name, "full");
	CHECK_STR(db->host, "db.example.com");
	CHECK(db->port == 5433);
	CHECK_STR(db->dbname, "real");
	CHECK_STR(db->user, "app");
	CHECK_STR(db->password, "pa ss'wd");
	CHECK(db->pool_size == 7 && db->min_pool_size == 2 && db->reserve_pool == 1);
	CHECK(db->pool_mode == POOL_MODE_STATEMENT);
	CHECK(db->max_db_connections == 9);
	CHECK_STR(db->connect_query, "SELECT 'a'; SELECT 2");
	CHECK_STR(db->client_encoding, "UTF8");
	CHECK_STR(db->datestyle, "ISO, MDY");
	CHECK_STR(db->timezone, "UTC");
	CHECK_STR(db->application_name, "sluice-app");
	CHECK_STR(db->auth_user, "lookup");
	CHECK_STR(db->auth_query, "SELECT u, p FROM f($1) WHERE x = 'y'");
	CHECK_STR(db->auth_dbname, "authdb");

	/* indentation is not a continuation line */
	db = config_find_db(cfg, "indented");
	CHECK(db != NULL && db->line == 3);
	CHECK_STR(db->host, "/var/run/postgresql");
	CHECK(db->reserve_pool == 4);

	db = config_find_db(cfg, "empty");
	CHECK(db != NULL);
	CHECK(db->host == NULL && db->dbname == NULL && db->user == NULL && db->password == NULL);
	CHECK(db->port == 5432);
	CHECK(db->pool_size == -1 && db->min_pool_size == -1 && db->reserve_pool == -1);
	CHECK(db->max_db_connections == -1 && db->pool_mode == POOL_MODE_UNSET);
	CHECK(db->connect_query == NULL && db->application_name == NULL);
	CHECK(db->auth_user == NULL && db->auth_query == NULL && db->auth_dbname == NULL);

	db = config_find_db(cfg, "dup");
	CHECK(db != NULL && db->line == 7);
	CHECK_STR(db->dbname, "second");

	/* unknown names fall back to "*"; spaces around '=' are allowed */
	db = config_find_db(cfg, "anything");
	CHECK(db != NULL);
	CHECK_STR(db->name, "*");
	CHECK_STR(db->host, "fallback");
	CHECK(db->port == 6000);

	const struct config_user *u = config_find_user(cfg, "alice");
	CHECK(cfg->n_users == 2);
	CHECK(u != NULL && u->line == 10);
	CHECK(u->pool_mode == POOL_MODE_TRANSACTION && u->pool_size == 3);
	CHECK(u->max_user_connections == 4);
	u = config_find_user(cfg, "bob");
	CHECK(u != NULL && u->pool_mode == POOL_MODE_UNSET && u->pool_size == -1);
	CHECK(u->max_user_connections == -1);
	CHECK(config_find_user(cfg, "carol") == NULL);
	config_free(cfg);

	/* without "*", unknown databases are not found */
	cfg = load_text("[databases]\nonly = host=x\n[sluice]\n", err, sizeof(err));
	CHECK(cfg != NULL && config_find_db(cfg, "other") == NULL);
	config_free(cfg);
}

/* ---- auth_query: an entry's own keys over the global ones ------------------ */

static void test_auth_lookup(void)
{
	char err[512];
	struct config_auth_lookup l;
	struct config *cfg =
		load_text("[databases]\n"
			  "plain = host=x\n"
			  "own = auth_user=dbuser auth_query='SELECT 1, 2' auth_dbname=x\n"
			  "half = auth_dbname=other\n"
			  "[sluice]\n"
			  "auth_user = globaluser\n"
			  "auth_dbname = globaldb\n",
			  err, sizeof(err));

	CHECK(cfg != NULL);
	if (cfg == NULL)
		return;
	CHECK(config_auth_lookup(cfg, config_find_db(cfg, "plain"), &l));
	CHECK_STR(l.user, "globaluser");
	CHECK_STR(l.query, cfg->auth_query);
	CHECK_STR(l.dbname, "globaldb");
	CHECK(config_auth_lookup(cfg, config_find_db(cfg, "own"), &l));
	CHECK_STR(l.user, "dbuser");
	CHECK_STR(l.query, "SELECT 1, 2");
	CHECK_STR(l.dbname, "x");
	CHECK(config_auth_lookup(cfg, config_find_db(cfg, "half"), &l));
	CHECK_STR(l.user, "globaluser");
	CHECK_STR(l.dbname, "other");
	config_free(cfg);

	/* no auth_user anywhere, or an empty auth_query: no look-ups */
	cfg = load_text("[databases]\nplain = host=x\nown = auth_user=u\n[sluice]\n", err,
			sizeof(err));
	CHECK(cfg != NULL);
	if (cfg == NULL)
		return;
	CHECK(!config_auth_lookup(cfg, config_find_db(cfg, "plain"), &l));
	CHECK(config_auth_lookup(cfg, config_find_db(cfg, "own"), &l));
	CHECK_STR(l.user, "u");
	CHECK(l.dbname == NULL);
	CHECK(config_set_key(cfg, "auth_query", "", err, sizeof(err)));
	CHECK(!config_auth_lookup(cfg, config_find_db(cfg, "own"), &l));
	config_free(cfg);
}

/* ---- warnings do not fail the load ---------------------------------------- */

static void test_warnings(void)
{
	char err[512], want[256];

	capture_begin();
	struct config *cfg = load_text("[pgbouncer]\n"
				       "listen_port = 6000\n"
				       "no_such_key = 1\n"
				       "syslog = 1\n"
				       "client_tls_sslmode = disable\n"
				       "server_tls_sslmode = prefer\n"
				       "[nosuch]\n"
				       "1 = host=x\n"
				       "[databases]\n"
				       "a = host=y\n",
				       err, sizeof(err));
	char *log = capture_end();
	CHECK(cfg != NULL);
	CHECK(cfg != NULL && cfg->listen_port == 6000 && cfg->n_dbs == 1);
	snprintf(want, sizeof(want), "%s:3: unknown key no_such_key, ignored", tmp_path);
	CHECK(strstr(log, want) != NULL);
	snprintf(want, sizeof(want), "%s:4: syslog is not supported, ignored", tmp_path);
	CHECK(strstr(log, want) != NULL);
	CHECK(strstr(log, "tls_sslmode") == NULL); /* TLS keys are real keys: no warning */
	snprintf(want, sizeof(want), "%s:7: unknown section [nosuch], its keys are ignored",
		 tmp_path);
	CHECK(strstr(log, want) != NULL);
	free(log);
	config_free(cfg);
}

/* ---- SET and the reload diff ------------------------------------------------ */

static void test_set_key(void)
{
	char err[512];
	struct config *cfg = load_text("[sluice]\n[databases]\n", err, sizeof(err));

	CHECK(cfg != NULL);
	if (cfg == NULL)
		return;
	CHECK(config_set_key(cfg, "default_pool_size", "33", err, sizeof(err)));
	CHECK(cfg->default_pool_size == 33);
	CHECK(config_set_key(cfg, "server_reset_query", "RESET ALL", err, sizeof(err)));
	CHECK_STR(cfg->server_reset_query, "RESET ALL");
	CHECK(config_set_key(cfg, "stats_users", "m1,m2", err, sizeof(err)));
	CHECK(config_list_has(cfg->stats_users, "m2"));

	CHECK(!config_set_key(cfg, "listen_port", "7000", err, sizeof(err)));
	CHECK_STR(err, "listen_port: cannot be changed at run time (needs a restart)");
	CHECK(cfg->listen_port == 6432);
	CHECK(!config_set_key(cfg, "default_pool_size", "x", err, sizeof(err)));
	CHECK_STR(err, "default_pool_size: invalid integer 'x'");
	CHECK(cfg->default_pool_size == 33);
	CHECK(!config_set_key(cfg, "nonsense", "1", err, sizeof(err)));
	CHECK_STR(err, "nonsense: unknown key");
	CHECK(!config_set_key(cfg, "syslog", "1", err, sizeof(err)));
	CHECK_STR(err, "syslog: not supported");
	CHECK(!config_set_key(cfg, "verbose", NULL, err, sizeof(err)));
	CHECK_STR(err, "verbose: missing value");

	struct find_arg f = { .key = "listen_port" };
	config_foreach_key(cfg, find_key, &f);
	CHECK(!f.reloadable && strcmp(f.def, "6432") == 0);
	struct find_arg g = { .key = "query_wait_timeout" };
	config_foreach_key(cfg, find_key, &g);
	CHECK(g.reloadable && strcmp(g.def, "120") == 0);
	config_free(cfg);
}

struct diff_arg {
	char keys[512];
};

static void collect(const char *key, void *arg)
{
	struct diff_arg *d = arg;
	size_t len = strlen(d->keys);
	snprintf(d->keys + len, sizeof(d->keys) - len, "%s%s", len ? " " : "", key);
}

static void test_diff(void)
{
	char err[512];
	struct config *a =
		load_text("[databases]\n[sluice]\nlisten_port = 6432\ndefault_pool_size = 5\n", err,
			  sizeof(err));
	struct config *b = load_text("[databases]\n[sluice]\nlisten_port = 6500\n"
				     "default_pool_size = 9\nunix_socket_dir = \npkt_buf = 4096\n"
				     "query_timeout = 3\n",
				     err, sizeof(err));
	struct diff_arg d = { "" };

	CHECK(a != NULL && b != NULL);
	if (a == NULL || b == NULL) {
		config_free(a);
		config_free(b);
		return;
	}
	config_diff_restart_keys(a, b, collect, &d);
	CHECK_STR(d.keys, "listen_port unix_socket_dir");
	d.keys[0] = '\0';
	config_diff_restart_keys(a, a, collect, &d);
	CHECK_STR(d.keys, "");
	config_free(a);
	config_free(b);
}

/* ---- the example config and the reference document cover every key -------- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (f == NULL)
		return NULL;
	FILE *out = open_memstream(&buf, &len);
	int c;
	while ((c = getc(f)) != EOF)
		putc(c, out);
	fclose(out);
	fclose(f);
	return buf;
}

struct doc_arg {
	const char *ini;
	const char *md;
	int missing;
};

/* conf/sluice.ini shows ";key = default"; README.md has a "| `key` |" row. */
static void doc_key(const char *key, const char *value, const char *def, bool reloadable, void *arg)
{
	struct doc_arg *d = arg;
	char want[256];

	(void)value;
	(void)reloadable;
	snprintf(want, sizeof(want), "\n;%s =%s%s\n", key, def[0] ? " " : "", def);
	if (strstr(d->ini, want) == NULL) {
		fprintf(stderr, "conf/sluice.ini lacks the line '%.*s'\n", (int)strlen(want) - 2,
			want + 1);
		d->missing++;
	}
	snprintf(want, sizeof(want), "\n| `%s` |", key);
	if (strstr(d->md, want) == NULL) {
		fprintf(stderr, "README.md lacks a row for %s\n", key);
		d->missing++;
	}
}

static void test_example_and_docs(void)
{
	char err[512];
	char *ini = slurp("../../conf/sluice.ini");
	char *md = slurp("../../README.md");

	CHECK(ini != NULL && md != NULL);
	capture_begin();
	struct config *cfg = config_load("../../conf/sluice.ini", err, sizeof(err));
	char *log = capture_end();
	CHECK(cfg != NULL);
	CHECK_STR(log, ""); /* no warnings */
	if (cfg != NULL && ini != NULL && md != NULL) {
		struct doc_arg d = { ini, md, 0 };
		config_foreach_key(cfg, doc_key, &d);
		CHECK(d.missing == 0);
		CHECK(config_find_db(cfg, "x") != NULL);
	}
	config_free(cfg);
	free(log);
	free(ini);
	free(md);
}

/* ---- [peers] --------------------------------------------------------------- */

static void peer_refused(const char *entry, const char *want)
{
	char text[512], err[512];
	snprintf(text, sizeof(text), "[sluice]\n[databases]\n[peers]\n%s\n", entry);
	struct config *cfg = load_text(text, err, sizeof(err));
	CHECK(cfg == NULL);
	if (cfg == NULL && strcmp(err, want) != 0) {
		fprintf(stderr, "%s: error \"%s\", expected \"%s\"\n", entry, err, want);
		unit_failures++;
	}
	config_free(cfg);
}

static void test_peers(void)
{
	char err[512];
	struct config *cfg = load_text("[sluice]\npeer_id = 2\n[databases]\n[peers]\n"
				       "1 = host=/run/sluice-a port=6432 pool_size=4\n"
				       "2 = host=127.0.0.1\n3 = host=::1 port=7000\n",
				       err, sizeof(err));
	CHECK(cfg != NULL);
	if (cfg == NULL)
		return;
	CHECK(cfg->peer_id == 2 && cfg->n_peers == 3);
	const struct config_peer *p = config_find_peer(cfg, 1);
	CHECK(p != NULL && strcmp(p->host, "/run/sluice-a") == 0 && p->port == 6432 &&
	      p->pool_size == 4 && p->line == 5);
	p = config_find_peer(cfg, 2);
	CHECK(p != NULL && p->port == 6432 && p->pool_size == -1);
	p = config_find_peer(cfg, 3);
	CHECK(p != NULL && strcmp(p->host, "::1") == 0 && p->port == 7000);
	CHECK(config_find_peer(cfg, 4) == NULL);
	config_free(cfg);

	peer_refused("0 = host=/x", ":4: peer 0: the name must be a peer_id from 1 to 16383");
	peer_refused("16384 = host=/x",
		     ":4: peer 16384: the name must be a peer_id from 1 to 16383");
	peer_refused("one = host=/x", ":4: peer one: the name must be a peer_id from 1 to 16383");
	peer_refused("1 = port=5", ":4: peer 1: host= is required");
	peer_refused("1 = host=db.example.com",
		     ":4: peer 1: host must be a unix socket directory or an IP address");
	peer_refused("1 = host=/x port=0", ":4: peer 1: port: 0 out of range 1..65535");
	peer_refused("1 = host=/x\n1 = host=/y", ":5: peer 1: already defined on line 4");
	peer_refused("1 = host=/x dbname=y", ":4: peer 1: unknown parameter 'dbname'");
}

int main(void)
{
	test_defaults();
	test_every_key();
	test_render();
	test_errors();
	test_sections();
	test_value_syntax();
	test_databases();
	test_auth_lookup();
	test_warnings();
	test_peers();
	test_set_key();
	test_diff();
	test_example_and_docs();
	UNIT_DONE();
}
