/*
 * admin: the console. One simple-protocol Query in, one result or error and
 * a ReadyForQuery out. Commands are a table from keyword to handler; PAUSE,
 * WAIT_CLOSE and SHUTDOWN WAIT_FOR_SERVERS answer later, from the janitor,
 * once what they wait for has happened.
 */
#include "sluice/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sluice/admin_parse.h"
#include "sluice/admin_show.h"
#include "sluice/client.h"
#include "sluice/listener.h"
#include "sluice/insight.h"
#include "sluice/insight_show.h"
#include "sluice/log.h"
#include "sluice/pool.h"
#include "sluice/runtime.h"
#include "sluice/server.h"
#include "sluice/util.h"

bool admin_is_console_db(const char *dbname)
{
	return strcmp(dbname, "sluice") == 0 || strcmp(dbname, "pgbouncer") == 0;
}

/* --- replies --- */

static void reply(struct client *c)
{
	struct pktbuf *b = &c->rt->scratch;
	proto_build_ready(b, 'I');
	if (!client_send_scratch(c))
		client_close(c, CLOSE_SILENT, NULL, "could not send to admin client");
}

static void reply_error(struct client *c, const char *sqlstate, const char *msg)
{
	struct pktbuf *b = &c->rt->scratch;
	pktbuf_reset(b);
	proto_build_error(b, "ERROR", sqlstate, msg);
	reply(c);
}

static void reply_tag(struct client *c, const char *tag)
{
	struct pktbuf *b = &c->rt->scratch;
	pktbuf_reset(b);
	proto_build_command_complete(b, tag);
	reply(c);
}

/* --- pool iteration helpers --- */

typedef void (*pool_fn)(struct pool *p, void *arg);

static void for_db_pools(struct runtime *rt, const char *db, pool_fn fn, void *arg)
{
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &rt->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		if (db == NULL || strcmp(p->db_name, db) == 0)
			fn(p, arg);
	}
}

static void count_servers(struct pool *p, void *arg)
{
	*(int *)arg += p->n_servers;
}

static void count_close_needed(struct pool *p, void *arg)
{
	const struct list *heads[] = { &p->idle_servers, &p->active_servers, &p->other_servers };
	for (int i = 0; i < 3; i++)
		for (const struct list *it = heads[i]->next; it != heads[i]; it = it->next) {
			const struct server *s = list_entry(it, struct server, node);
			*(int *)arg += s->close_on_release || s->generation != p->generation;
		}
}

static void close_idle_servers(struct pool *p, void *arg)
{
	(void)arg;
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &p->idle_servers)
		server_close(list_entry(it, struct server, node), "closed by an admin command");
}

static void mark_reconnect(struct pool *p, void *arg)
{
	(void)arg;
	pool_reconnect(p, NULL, "closed by an admin command");
}

static void kill_pool(struct pool *p, void *arg)
{
	const struct list *heads[] = { &p->active_clients, &p->idle_clients, &p->waiting_clients,
				       &p->wait_login_clients };
	for (int i = 0; i < 4; i++) {
		struct list *it, *tmp;
		list_for_each_safe (it, tmp, heads[i])
			client_close(list_entry(it, struct client, node), CLOSE_ERROR, "57P01",
				     "terminating connection due to administrator command (KILL)");
	}
	const struct list *sheads[] = { &p->idle_servers, &p->active_servers, &p->other_servers };
	for (int i = 0; i < 3; i++) {
		struct list *it, *tmp;
		list_for_each_safe (it, tmp, sheads[i])
			server_close(list_entry(it, struct server, node), "KILL");
	}
}

static void maintain(struct pool *p, void *arg)
{
	(void)arg;
	pool_maintain(p);
}

/* --- deferred commands --- */

static bool deferred_done(struct client *c)
{
	struct runtime *rt = c->rt;
	const char *db = c->admin_wait_db;
	int n = 0;
	switch (c->admin_wait) {
	case ADMIN_WAIT_PAUSE:
	case ADMIN_WAIT_SERVERS:
		for_db_pools(rt, db, count_servers, &n);
		return n == 0;
	case ADMIN_WAIT_CLOSE:
		for_db_pools(rt, db, count_close_needed, &n);
		return n == 0;
	case ADMIN_WAIT_NONE:
		break;
	}
	return true;
}

static void finish_deferred(struct client *c)
{
	enum admin_wait w = c->admin_wait;
	c->admin_wait = ADMIN_WAIT_NONE;
	if (w == ADMIN_WAIT_SERVERS) {
		log_event(LOG_INFO, "shutdown",
			  "SHUTDOWN WAIT_FOR_SERVERS: all servers released, exiting");
		reply_tag(c, "SHUTDOWN");
		event_base_loopbreak(c->rt->base);
		c->rt->phase = RUN_STOPPING;
		return;
	}
	reply_tag(c, w == ADMIN_WAIT_PAUSE ? "PAUSE" : "WAIT_CLOSE");
}

static void defer(struct client *c, enum admin_wait w, const char *db)
{
	c->admin_wait = w;
	str_replace(&c->admin_wait_db, db);
	if (deferred_done(c))
		finish_deferred(c);
}

void admin_janitor(struct runtime *rt)
{
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &rt->admin_clients) {
		struct client *c = list_entry(it, struct client, node);
		if (c->admin_wait != ADMIN_WAIT_NONE && deferred_done(c))
			finish_deferred(c);
	}
}

/* --- command handlers --- */

struct admin_cmd {
	const char *word;
	int min_args, max_args;
	bool needs_admin; /* admin_users only */
	void (*fn)(struct client *c, struct admin_command *cmd);
};

static const char *arg1(const struct admin_command *cmd)
{
	return cmd->n > 1 ? cmd->words[1] : NULL;
}

static void cmd_show(struct client *c, struct admin_command *cmd)
{
	struct pktbuf *b = &c->rt->scratch;
	pktbuf_reset(b);
	const char *what = arg1(cmd);
	if (strcasecmp(what, "help") == 0) {
		proto_build_notice(
			b, "NOTICE", "00000",
			"Console usage\n"
			"\tSHOW POOLS|STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS|CLIENTS|SERVERS|\n"
			"\t     DATABASES|USERS|CONFIG|LISTS|MEM|STATE|VERSION|ACTIVITY|HELP\n"
			"\tSHOW QUERIES [db]|N_PLUS_ONE\n\tRESET QUERIES\n"
			"\tSET key = value\n\tRELOAD\n\tPAUSE [db]\n\tRESUME [db]\n"
			"\tDISABLE db\n\tENABLE db\n\tRECONNECT [db]\n\tWAIT_CLOSE [db]\n"
			"\tKILL db\n\tKILL_CLIENT id\n\tSUSPEND\n"
			"\tSHUTDOWN [WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS]");
		proto_build_command_complete(b, "SHOW");
		reply(c);
		return;
	}
	if (strcasecmp(what, "n_plus_one") == 0 && cmd->n == 2) {
		insight_show_loops(c->rt->insight, b);
		reply(c);
		return;
	}
	if (strcasecmp(what, "queries") == 0) {
		insight_show(c->rt->insight, cmd->n > 2 ? cmd->words[2] : NULL, b);
		reply(c);
		return;
	}
	if (cmd->n > 2) {
		reply_error(c, "42601", "only SHOW QUERIES takes an argument (a database)");
		return;
	}
	if (!admin_show(c->rt, what, b)) {
		char msg[160];
		pktbuf_reset(b);
		snprintf(msg, sizeof(msg), "unknown SHOW item: %.100s (try SHOW HELP)", what);
		reply_error(c, "42601", msg);
		return;
	}
	reply(c);
}

/* config_foreach_key callback: copy the rendered value of one key. */
struct key_value {
	const char *key;
	char *value;
};

static void find_value(const char *key, const char *value, const char *def, bool reloadable,
		       void *arg)
{
	struct key_value *kv = arg;
	if (kv->value == NULL && strcasecmp(key, kv->key) == 0)
		kv->value = xstrdup(value);
}

/* Keys whose change rebuilds the TLS contexts. */
static bool is_tls_key(const char *key)
{
	return strncasecmp(key, "client_tls", 10) == 0 || strncasecmp(key, "server_tls", 10) == 0;
}

static void cmd_set(struct client *c, struct admin_command *cmd)
{
	/* SET key = value | SET key TO value */
	if (cmd->n != 4 ||
	    (strcmp(cmd->words[2], "=") != 0 && strcasecmp(cmd->words[2], "to") != 0)) {
		reply_error(c, "42601", "syntax: SET key = value");
		return;
	}
	char err[256];
	struct key_value old = { cmd->words[1], NULL };
	config_foreach_key(c->rt->cfg, find_value, &old);
	if (!config_set_key(c->rt->cfg, cmd->words[1], cmd->words[3], err, sizeof(err))) {
		free(old.value);
		reply_error(c, "22023", err);
		return;
	}
	if (is_tls_key(cmd->words[1]) && !runtime_reload_tls(c->rt, err, sizeof(err))) {
		/* the contexts could not be made: the key goes back to what they were made from */
		if (old.value && !config_set_key(c->rt->cfg, old.key, old.value, NULL, 0))
			log_error("admin: SET %s: could not restore the old value", old.key);
		free(old.value);
		reply_error(c, "22023", err);
		return;
	}
	free(old.value);
	log_set_verbose(c->rt->cfg->verbose);
	runtime_sync_config_watch(c->rt);
	log_set_format(c->rt->cfg->log_format);
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &c->rt->pools)
		pool_apply_config(list_entry(it, struct pool, node), c->rt->cfg);
	log_event(LOG_INFO, "admin_set", "admin: SET %s = %s", cmd->words[1], cmd->words[3]);
	reply_tag(c, "SET");
}

static void cmd_reset(struct client *c, struct admin_command *cmd)
{
	if (strcasecmp(arg1(cmd), "queries") != 0) {
		reply_error(c, "42601", "syntax: RESET QUERIES");
		return;
	}
	insight_reset(c->rt->insight);
	log_event(LOG_INFO, "admin_reset", "admin: RESET QUERIES");
	reply_tag(c, "RESET");
}

static void cmd_reload(struct client *c, struct admin_command *cmd)
{
	(void)cmd;
	if (!runtime_reload(c->rt)) {
		reply_error(c, "F0000",
			    "reload failed; the running configuration is kept (see the log)");
		return;
	}
	reply_tag(c, "RELOAD");
}

static bool check_db(struct client *c, const char *db)
{
	if (db && !admin_parse_valid_name(db)) {
		reply_error(c, "42602", "invalid database name");
		return false;
	}
	return true;
}

static void cmd_pause(struct client *c, struct admin_command *cmd)
{
	const char *db = arg1(cmd);
	if (!check_db(c, db))
		return;
	pool_set_paused(c->rt, db, true);
	for_db_pools(c->rt, db, close_idle_servers, NULL);
	log_event(LOG_INFO, "admin_pause", "admin: PAUSE %s", db ? db : "(all)");
	defer(c, ADMIN_WAIT_PAUSE, db);
}

static void cmd_resume(struct client *c, struct admin_command *cmd)
{
	const char *db = arg1(cmd);
	if (!check_db(c, db))
		return;
	pool_set_paused(c->rt, db, false);
	if (db == NULL && c->rt->suspended)
		runtime_set_suspended(c->rt, false);
	for_db_pools(c->rt, db, maintain, NULL);
	log_event(LOG_INFO, "admin_resume", "admin: RESUME %s", db ? db : "(all)");
	reply_tag(c, "RESUME");
}

static void cmd_disable(struct client *c, struct admin_command *cmd)
{
	const char *db = arg1(cmd);
	if (!check_db(c, db))
		return;
	pool_set_disabled(c->rt, db, true);
	reply_tag(c, "DISABLE");
}

static void cmd_enable(struct client *c, struct admin_command *cmd)
{
	const char *db = arg1(cmd);
	if (!check_db(c, db))
		return;
	pool_set_disabled(c->rt, db, false);
	reply_tag(c, "ENABLE");
}

static void cmd_kill(struct client *c, struct admin_command *cmd)
{
	const char *db = arg1(cmd);
	if (!check_db(c, db))
		return;
	pool_set_paused(c->rt, db, true);
	for_db_pools(c->rt, db, kill_pool, NULL);
	log_event(LOG_INFO, "admin_kill", "admin: KILL %s", db ? db : "(all)");
	reply_tag(c, "KILL");
}

static struct client *find_client_by_id(struct runtime *rt, uint64_t id)
{
	struct pool *p;
	for_each_pool (p, rt) {
		const struct list *heads[] = { &p->active_clients, &p->idle_clients,
					       &p->waiting_clients, &p->wait_login_clients };
		for (int i = 0; i < 4; i++)
			for (struct list *it = heads[i]->next; it != heads[i]; it = it->next)
				if (list_entry(it, struct client, node)->id == id)
					return list_entry(it, struct client, node);
	}
	return NULL;
}

static void cmd_kill_client(struct client *c, struct admin_command *cmd)
{
	char *end;
	unsigned long long id = strtoull(arg1(cmd), &end, 10);
	if (*end != '\0' || id == 0) {
		reply_error(c, "22P02", "KILL_CLIENT needs a client id (see SHOW CLIENTS)");
		return;
	}
	struct client *victim = find_client_by_id(c->rt, id);
	if (victim == NULL) {
		reply_error(c, "42704", "no such client");
		return;
	}
	client_close(victim, CLOSE_ERROR, "57P01",
		     "terminating connection due to administrator command (KILL_CLIENT)");
	reply_tag(c, "KILL_CLIENT");
}

static void cmd_reconnect(struct client *c, struct admin_command *cmd)
{
	const char *db = arg1(cmd);
	if (!check_db(c, db))
		return;
	for_db_pools(c->rt, db, mark_reconnect, NULL);
	reply_tag(c, "RECONNECT");
}

static void cmd_wait_close(struct client *c, struct admin_command *cmd)
{
	const char *db = arg1(cmd);
	if (!check_db(c, db))
		return;
	defer(c, ADMIN_WAIT_CLOSE, db);
}

static void cmd_suspend(struct client *c, struct admin_command *cmd)
{
	(void)cmd;
	pool_set_paused(c->rt, NULL, true);
	runtime_set_suspended(c->rt, true);
	reply_tag(c, "SUSPEND");
}

static void cmd_shutdown(struct client *c, struct admin_command *cmd)
{
	const char *how = arg1(cmd);
	struct runtime *rt = c->rt;
	if (how == NULL) {
		log_event(LOG_INFO, "shutdown", "admin: SHUTDOWN");
		reply_tag(c, "SHUTDOWN");
		rt->phase = RUN_STOPPING;
		event_base_loopbreak(rt->base);
	} else if (strcasecmp(how, "wait_for_clients") == 0) {
		log_event(LOG_INFO, "shutdown", "admin: SHUTDOWN WAIT_FOR_CLIENTS");
		reply_tag(c, "SHUTDOWN");
		runtime_begin_drain(rt);
	} else if (strcasecmp(how, "wait_for_servers") == 0) {
		log_event(LOG_INFO, "shutdown", "admin: SHUTDOWN WAIT_FOR_SERVERS");
		listener_close_main(rt);
		pool_set_paused(rt, NULL, true);
		for_db_pools(rt, NULL, close_idle_servers, NULL);
		defer(c, ADMIN_WAIT_SERVERS, NULL);
	} else {
		reply_error(c, "42601", "syntax: SHUTDOWN [WAIT_FOR_SERVERS | WAIT_FOR_CLIENTS]");
	}
}

static const struct admin_cmd commands[] = {
	{ "show", 1, 2, false, cmd_show },
	{ "reset", 1, 1, true, cmd_reset },
	{ "set", 3, 3, true, cmd_set },
	{ "reload", 0, 0, true, cmd_reload },
	{ "pause", 0, 1, true, cmd_pause },
	{ "resume", 0, 1, true, cmd_resume },
	{ "disable", 1, 1, true, cmd_disable },
	{ "enable", 1, 1, true, cmd_enable },
	{ "kill", 1, 1, true, cmd_kill },
	{ "kill_client", 1, 1, true, cmd_kill_client },
	{ "reconnect", 0, 1, true, cmd_reconnect },
	{ "wait_close", 0, 1, true, cmd_wait_close },
	{ "suspend", 0, 0, true, cmd_suspend },
	{ "shutdown", 0, 1, true, cmd_shutdown },
	{ NULL, 0, 0, false, NULL },
};

static void run_command(struct client *c, const char *sql)
{
	struct admin_command cmd;
	if (!admin_parse_command(sql, &cmd)) {
		reply_error(c, "42601", "syntax error in admin command");
		return;
	}
	if (cmd.n == 0) {
		struct pktbuf *b = &c->rt->scratch;
		pktbuf_reset(b);
		pkt_begin(b, 'I'); /* EmptyQueryResponse */
		pkt_end(b);
		reply(c);
		return;
	}
	for (const struct admin_cmd *ac = commands; ac->word; ac++) {
		if (strcasecmp(ac->word, cmd.words[0]) != 0)
			continue;
		int args = cmd.n - 1;
		if (args < ac->min_args || args > ac->max_args) {
			char msg[96];
			snprintf(msg, sizeof(msg), "wrong number of arguments for %s", ac->word);
			reply_error(c, "42601", msg);
			return;
		}
		if (ac->needs_admin && !c->admin_rw) {
			reply_error(c, "42501",
				    "permission denied: only admin_users may run this command");
			return;
		}
		ac->fn(c, &cmd);
		return;
	}
	char msg[160];
	snprintf(msg, sizeof(msg), "unsupported admin command: %.100s", cmd.words[0]);
	reply_error(c, "42601", msg);
}

/* --- session --- */

void admin_login(struct client *c)
{
	const struct config *cfg = c->rt->cfg;
	bool rw = config_list_has(cfg->admin_users, c->user);
	bool ro = config_list_has(cfg->stats_users, c->user);
	if (!rw && !ro) {
		client_close(c, CLOSE_ERROR, "42501",
			     "not allowed to connect to the admin console (not in admin_users or "
			     "stats_users)");
		return;
	}
	c->admin_rw = rw;
	c->is_admin = true;
	struct pktbuf *b = &c->rt->scratch;
	pktbuf_reset(b);
	proto_build_auth(b, 0, NULL, 0);
	static const char *const params[][2] = {
		{ "server_version", "15.0 (sluice " SLUICE_VERSION ")" },
		{ "server_encoding", "UTF8" },
		{ "client_encoding", "UTF8" },
		{ "DateStyle", "ISO, MDY" },
		{ "TimeZone", "UTC" },
		{ "integer_datetimes", "on" },
		{ "standard_conforming_strings", "on" },
		{ "IntervalStyle", "postgres" },
		{ "application_name", "" },
		{ "is_superuser", "off" },
	};
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++)
		proto_build_param_status(b, params[i][0], params[i][1]);
	proto_build_param_status(b, "session_authorization", c->user);
	proto_build_backend_key(b, c->cancel_pid, c->cancel_key);
	proto_build_ready(b, 'I');
	if (!client_send_scratch(c)) {
		client_close(c, CLOSE_SILENT, NULL, "could not send welcome");
		return;
	}
	client_set_state(c, CL_IDLE);
	client_log(c, LOG_INFO, "admin_login", "admin console login (%s)", rw ? "admin" : "stats");
}

/* One whole message from an admin client; false when the client is gone. */
static bool admin_message(struct client *c, uint8_t type, const uint8_t *body, uint32_t len)
{
	if (type == 'X') {
		client_close(c, CLOSE_SILENT, NULL, "client sent Terminate");
		return false;
	}
	if (type != 'Q') {
		client_close(c, CLOSE_ERROR, "08P01",
			     "the admin console supports only the simple query protocol");
		return false;
	}
	if (len == 0 || body[len - 1] != '\0' || memchr(body, 0, len) != body + len - 1) {
		client_close(c, CLOSE_ERROR, "08P01", "invalid Query message");
		return false;
	}
	if (c->admin_wait != ADMIN_WAIT_NONE) {
		client_close(c, CLOSE_ERROR, "08P01", "a command is still running");
		return false;
	}
	run_command(c, (const char *)body);
	return c->state != CL_CLOSED;
}

void admin_process(struct client *c)
{
	while (c->state != CL_CLOSED && c->conn.in && iobuf_unscanned(c->conn.in) > 0) {
		struct proto_msg m;
		const uint8_t *body;
		switch (iobuf_take_message(c->conn.in, ADMIN_MAX_QUERY + 64, &m, &body)) {
		case PROTO_FRAME_NEED_MORE:
			return;
		case PROTO_FRAME_BAD_LENGTH:
			client_close(c, CLOSE_ERROR, "08P01", "invalid message length");
			return;
		case PROTO_FRAME_OK:
			break;
		}
		if (!admin_message(c, m.type, body, m.len))
			return;
	}
	if (c->state != CL_CLOSED)
		conn_release_buffer(&c->conn, &c->rt->bufs);
}
