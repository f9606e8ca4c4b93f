/*
 * test_log: the JSON string escaping (quotes, backslashes, control
 * characters, invalid UTF-8, truncation never splitting a character) and
 * whole lines in both formats, captured from stderr: the text prefix as it
 * always was, the json fields, and arguments of disabled levels unevaluated.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "sluice/log.h"
#include "unit.h"

/* Escape src (len bytes) with room cap; the result as a NUL-terminated string. */
static const char *esc(const char *src, size_t len, size_t cap)
{
	static char out[512];
	size_t n = log_json_escape(out, cap, src, len);
	out[n] = '\0';
	return out;
}

#define ESC(lit) esc((lit), sizeof(lit) - 1, 256)

static void test_escape(void)
{
	CHECK_STR(ESC("plain text"), "plain text");
	CHECK_STR(ESC("a \"quoted\" \\path\\"), "a \\\"quoted\\\" \\\\path\\\\");
	CHECK_STR(ESC("l1\nl2\r\t\b\f"), "l1\\nl2\\r\\t\\b\\f");
	CHECK_STR(ESC("\x01\x1f\x7f"), "\\u0001\\u001f\\u007f");
	CHECK_STR(ESC("nul\0byte"), "nul\\u0000byte");
	/* valid UTF-8 passes through: é, €, U+1F600 */
	CHECK_STR(ESC("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
		  "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	/* invalid: a lone continuation, an overlong, a surrogate, above U+10FFFF, a cut sequence */
	CHECK_STR(ESC("a\x80z"), "a\xef\xbf\xbdz");
	CHECK_STR(ESC("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STR(ESC("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STR(ESC("\xf4\x90\x80\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STR(ESC("\xe2\x82"), "\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STR(ESC("\xff"), "\xef\xbf\xbd");
	/* truncation stops before an escape or a character that does not fit whole */
	CHECK_STR(esc("ab\"c", 4, 3), "ab");
	CHECK_STR(esc("ab\"c", 4, 4), "ab\\\"");
	CHECK_STR(esc("a\x01", 2, 6), "a");
	CHECK_STR(esc("a\xe2\x82\xac", 4, 3), "a");
	CHECK_STR(esc("a\xe2\x82\xac", 4, 4), "a\xe2\x82\xac");
	CHECK_STR(esc("abc", 3, 0), "");
}

/* Run fn with stderr going to a temporary file; returns what it wrote (caller frees). */
static char *capture(void (*fn)(void))
{
	char path[] = "/tmp/sluice-test-log-XXXXXX";
	int fd = mkstemp(path);
	int saved = dup(STDERR_FILENO);
	CHECK(fd >= 0 && saved >= 0);
	unlink(path);
	dup2(fd, STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	off_t size = lseek(fd, 0, SEEK_END);
	char *text = calloc(1, (size_t)size + 1);
	CHECK(pread(fd, text, (size_t)size, 0) == size);
	close(fd);
	return text;
}

static int evaluated;

static int count(void)
{
	return ++evaluated;
}

static const struct log_ctx client_ctx = {
	.event = "client_close",
	.kind = 'C',
	.id = 12,
	.database = "db",
	.user = "us\"er",
	.host = "127.0.0.1",
	.port = 5000,
	.sqlstate = "57P01",
};

static void write_lines(void)
{
	log_at(LOG_INFO, client_ctx, "closing because: %s", "bye\n\"now\"");
	log_info("no connection %d", 7);
	log_at(LOG_WARNING, ((struct log_ctx){ .kind = 'S', .id = 3, .host = "::1", .port = 5432 }),
	       "v6");
	log_at(LOG_INFO, ((struct log_ctx){ .kind = 'C', .id = 4, .host = "unix" }), "sock");
	log_debug("hidden %d", count()); /* threshold is LOG_INFO */
}

static void test_text_lines(void)
{
	log_set_verbose(0);
	log_set_format(LOG_FORMAT_TEXT);
	evaluated = 0;
	char *out = capture(write_lines);
	CHECK(evaluated == 0);
	CHECK(strstr(out, " LOG C-12 db/us\"er@127.0.0.1:5000 closing because: bye\n\"now\"\n") !=
	      NULL);
	CHECK(strstr(out, " LOG no connection 7\n") != NULL);
	CHECK(strstr(out, " WARNING S-3 (nodb)/(nouser)@::1:5432 v6\n") != NULL);
	CHECK(strstr(out, " LOG C-4 (nodb)/(nouser)@unix:0 sock\n") != NULL);
	CHECK(strstr(out, "{") == NULL);
	/* "YYYY-MM-DD HH:MM:SS.mmm pid LEVEL" */
	CHECK(strlen(out) > 24 && out[4] == '-' && out[10] == ' ' && out[19] == '.' &&
	      out[23] == ' ');
	free(out);
}

static void test_json_lines(void)
{
	log_set_verbose(0);
	log_set_format(LOG_FORMAT_JSON);
	evaluated = 0;
	char *out = capture(write_lines);
	log_set_format(LOG_FORMAT_TEXT);
	CHECK(evaluated == 0);
	char pid[32];
	snprintf(pid, sizeof(pid), "\"pid\":%d,", (int)getpid());
	CHECK(strncmp(out, "{\"time\":\"", 9) == 0);
	/* 2026-12-01T23:40:01.123Z */
	CHECK(out[13] == '-' && out[19] == 'T' && out[28] == '.' && out[32] == 'Z');
	CHECK(strstr(out, pid) != NULL);
	CHECK(strstr(out, "\"level\":\"LOG\",\"pid\"") != NULL);
	CHECK(strstr(out,
		     ",\"event\":\"client_close\",\"client\":\"C-12\",\"database\":\"db\","
		     "\"user\":\"us\\\"er\",\"address\":\"127.0.0.1:5000\",\"sqlstate\":\"57P01\","
		     "\"message\":\"closing because: bye\\n\\\"now\\\"\"}\n") != NULL);
	CHECK(strstr(out, ",\"event\":\"log\",\"message\":\"no connection 7\"}\n") != NULL);
	CHECK(strstr(out, "\"level\":\"WARNING\"") != NULL);
	CHECK(strstr(out, ",\"client\":\"S-3\",\"address\":\"[::1]:5432\",\"message\":\"v6\"}\n") !=
	      NULL);
	CHECK(strstr(out, ",\"client\":\"C-4\",\"address\":\"unix\",\"message\":\"sock\"}\n") !=
	      NULL);
	/* four lines, each one object */
	int lines = 0;
	for (char *p = out; (p = strchr(p, '\n')) != NULL; p++, lines++)
		CHECK(p[-1] == '}' && (p[1] == '\0' || p[1] == '{'));
	CHECK(lines == 4);
	free(out);
}

static char long_msg[6000];

static void write_long(void)
{
	log_at(LOG_ERROR, LOG_CTX("big"), "%s", long_msg);
}

static void test_json_long_line(void)
{
	/* every byte escapes to 6: the message is cut, the object still closes */
	memset(long_msg, '\x01', sizeof(long_msg) - 1);
	log_set_format(LOG_FORMAT_JSON);
	char *out = capture(write_long);
	log_set_format(LOG_FORMAT_TEXT);
	size_t n = strlen(out);
	CHECK(n > 4000 && n <= 8192);
	CHECK(n >= 3 && strcmp(out + n - 3, "\"}\n") == 0);
	CHECK(strstr(out, "\\u0001\\u0001\"}\n") != NULL);
	CHECK(strchr(out, '\x01') == NULL);
	free(out);
}

int main(void)
{
	test_escape();
	test_text_lines();
	test_json_lines();
	test_json_long_line();
	UNIT_DONE();
}
