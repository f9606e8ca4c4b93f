/*
 * statuspage: the HTML of GET / (see statuspage.h). Every text that comes
 * from a client or the config is escaped; nothing of a query is shown.
 */
#include "sluice/statuspage.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sluice/admin_conns.h"
#include "sluice/client.h"
#include "sluice/config.h"
#include "sluice/insight.h"
#include "sluice/metrics.h"
#include "sluice/params.h"
#include "sluice/pool.h"
#include "sluice/proto.h"
#include "sluice/runtime.h"
#include "sluice/server.h"
#include "sluice/stats.h"
#include "sluice/util.h"

#define REFRESH_SECONDS 5
#define TOP_QUERIES     10 /* statements shown, by total time */

#define put pkt_printf

/* s with & < > " ' as entities; NULL as an empty string. */
static void put_escaped(struct pktbuf *out, const char *s)
{
	for (; s && *s; s++) {
		const char *e = NULL;
		switch (*s) {
		case '&':
			e = "&amp;";
			break;
		case '<':
			e = "&lt;";
			break;
		case '>':
			e = "&gt;";
			break;
		case '"':
			e = "&quot;";
			break;
		case '\'':
			e = "&#39;";
			break;
		default:
			break;
		}
		if (e)
			pkt_put_bytes(out, e, strlen(e));
		else
			pkt_put_bytes(out, s, 1);
	}
}

/* <td>s</td>, escaped. */
static void cell(struct pktbuf *out, const char *s)
{
	put(out, "<td>");
	put_escaped(out, s);
	put(out, "</td>");
}

static void cell_int(struct pktbuf *out, long long v)
{
	put(out, "<td class=\"n\">%lld</td>", v);
}

static void cell_ms(struct pktbuf *out, usec_t us)
{
	put(out, "<td class=\"n\">%.1f</td>", (double)us / 1000.0);
}

static const char style[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222}"
	"h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.1em;margin:1.2em 0 .4em}"
	"table{border-collapse:collapse;min-width:40%}th,td{padding:2px 8px;"
	"border-bottom:1px solid #ddd;text-align:left}th{background:#f2f2f2}"
	"td.n{text-align:right;font-variant-numeric:tabular-nums}"
	"tr.hot td{background:#fde2e1}.ok{color:#17702b}.bad{color:#b3261e}"
	"p.meta{color:#555;margin:.2em 0}td.q{font-family:ui-monospace,monospace;font-size:12px}";

/* Fetch the live part again every few seconds and put it in place (a printf format). */
#define SCRIPT                                                                            \
	"(function(){var m=document.getElementById('live');"                              \
	"function r(){fetch('/?fragment=1').then(function(x){return x.ok?x.text():null})" \
	".then(function(t){if(t!==null){m.innerHTML=t;m.className='';}})"                 \
	".catch(function(){}).then(function(){setTimeout(r,%d)})}"                        \
	"m.className='js';setTimeout(r,%d)})();"

static void summary(struct runtime *rt, struct pktbuf *out)
{
	const char *why = NULL;
	bool ready = metrics_ready(rt, &why);
	usec_t up = util_now() - rt->start_time;
	put(out, "<p class=\"meta\">sluice %s, pid %d, up %lld s &middot; ", SLUICE_VERSION,
	    (int)getpid(), (long long)(up / 1000000));
	put(out, "<span id=\"ready\" class=\"%s\">%s</span> &middot; ", ready ? "ok" : "bad",
	    ready ? "ready" : "not ready");
	put(out, "%d of %d client connections, %d server connections</p>\n", rt->n_clients,
	    rt->cfg->max_client_conn, rt->n_servers);
}

static void pool_row(struct pktbuf *out, const struct pool *p)
{
	struct wait_hist h;
	stats_recent_waits(&p->stats, &h);
	int waiting = list_length(&p->waiting_clients) + list_length(&p->wait_login_clients);
	put(out, "<tr%s>", waiting > 0 || p->saturation >= 0.9 ? " class=\"hot\"" : "");
	cell(out, p->db_name);
	cell(out, p->user);
	cell(out, config_pool_mode_str(p->mode));
	cell_int(out, list_length(&p->active_clients) + list_length(&p->idle_clients));
	put(out, "<td class=\"n cl_waiting\">%d</td>", waiting);
	cell_int(out, list_length(&p->active_servers));
	cell_int(out, list_length(&p->idle_servers));
	cell_int(out, p->pool_size);
	cell_ms(out, stats_wait_percentile(&h, 0.5));
	cell_ms(out, stats_wait_percentile(&h, 0.99));
	cell_ms(out, h.max);
	put(out, "<td class=\"n\">%.0f%%</td></tr>\n", p->saturation * 100.0);
}

static void pools(struct runtime *rt, struct pktbuf *out)
{
	put(out, "<h2>Pools</h2>\n<table id=\"pools\"><tr><th>database</th><th>user</th>"
		 "<th>mode</th><th>clients</th><th>waiting</th><th>servers active</th>"
		 "<th>idle</th><th>pool size</th><th>wait p50 ms</th><th>p99 ms</th>"
		 "<th>max ms</th><th>saturation</th></tr>\n");
	struct pool *p;
	for_each_pool (p, rt)
		pool_row(out, p);
	put(out, "</table>\n");
}

static void client_row(struct pktbuf *out, const struct client *c, usec_t now)
{
	const char *app = c->params.tracked[PARAM_APPLICATION_NAME];
	put(out, "<tr>");
	cell_int(out, (long long)c->id);
	cell(out, c->dbname);
	cell(out, c->user);
	cell(out, app ? app : "");
	cell(out, client_addr(c));
	cell(out, admin_activity_state(c));
	put(out, "<td class=\"n\">%.1f</td>", (double)(now - c->state_since) / 1e6);
	if (c->server && c->server->be_pid)
		cell_int(out, c->server->be_pid);
	else
		cell(out, "");
	put(out, "</tr>\n");
}

static void clients_of(struct pktbuf *out, const struct list *head, usec_t now)
{
	for (const struct list *it = head->next; it != head; it = it->next)
		client_row(out, list_entry(it, struct client, node), now);
}

static void activity(struct runtime *rt, struct pktbuf *out)
{
	usec_t now = util_now();
	put(out, "<h2>Clients</h2>\n<table id=\"activity\"><tr><th>id</th><th>database</th>"
		 "<th>user</th><th>application</th><th>address</th><th>state</th>"
		 "<th>for s</th><th>server pid</th></tr>\n");
	struct pool *p;
	for_each_pool (p, rt) {
		clients_of(out, &p->active_clients, now);
		clients_of(out, &p->waiting_clients, now);
		clients_of(out, &p->wait_login_clients, now);
		clients_of(out, &p->idle_clients, now);
	}
	put(out, "</table>\n");
}

static void top_row(const struct insight_row *r, void *arg)
{
	struct pktbuf *out = arg;
	put(out, "<tr>");
	cell(out, r->db);
	cell(out, r->app);
	cell_int(out, (long long)r->calls);
	cell_ms(out, r->calls ? r->total / (usec_t)r->calls : 0);
	cell_ms(out, r->total);
	cell_ms(out, r->wait);
	cell_int(out, (long long)r->errors);
	put(out, "<td class=\"q\">");
	put_escaped(out, r->text);
	put(out, "</td></tr>\n");
}

static void top_queries(struct runtime *rt, struct pktbuf *out)
{
	put(out, "<h2>Top statements</h2>\n<table id=\"queries\"><tr><th>database</th>"
		 "<th>application</th><th>calls</th><th>mean ms</th><th>total ms</th>"
		 "<th>waited ms</th><th>errors</th><th>statement</th></tr>\n");
	insight_foreach_top(rt->insight, NULL, TOP_QUERIES, top_row, out);
	put(out, "</table>\n");
}

static void loop_row(const struct insight_loop *l, void *arg)
{
	struct pktbuf *out = arg;
	put(out, "<tr class=\"hot\">");
	cell(out, l->db);
	cell(out, l->app);
	cell_int(out, (long long)l->times);
	cell_int(out, l->largest);
	put(out, "<td class=\"q\">");
	put_escaped(out, l->text);
	put(out, "</td><td class=\"q\">");
	put_escaped(out, l->parent_text);
	put(out, "</td></tr>\n");
}

static void loops(struct runtime *rt, struct pktbuf *out)
{
	put(out, "<h2>N+1 loops</h2>\n<table id=\"n_plus_one\"><tr><th>database</th>"
		 "<th>application</th><th>times</th><th>largest</th><th>repeated statement</th>"
		 "<th>after</th></tr>\n");
	insight_foreach_loop(rt->insight, loop_row, out);
	put(out, "</table>\n");
}

static void live(struct runtime *rt, struct pktbuf *out)
{
	summary(rt, out);
	pools(rt, out);
	loops(rt, out);
	top_queries(rt, out);
	activity(rt, out);
}

void statuspage_render(struct runtime *rt, struct pktbuf *out, bool fragment)
{
	if (fragment) {
		live(rt, out);
		return;
	}
	put(out,
	    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<title>sluice</title><meta name=\"viewport\" "
	    "content=\"width=device-width\">\n"
	    "<noscript><meta http-equiv=\"refresh\" content=\"%d\"></noscript>\n<style>",
	    REFRESH_SECONDS);
	pkt_put_bytes(out, style, sizeof(style) - 1);
	put(out, "</style></head><body>\n<h1>sluice</h1>\n<main id=\"live\">\n");
	live(rt, out);
	put(out, "</main>\n<script>");
	put(out, SCRIPT, REFRESH_SECONDS * 1000, REFRESH_SECONDS * 1000);
	put(out, "</script>\n</body></html>\n");
}
