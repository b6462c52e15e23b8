/* version.c — chatstream --version; see version.h. */
#include <curl/curl.h>
#include <gnu/libc-version.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>
#include <sqlite3.h>

#include "cs.h"
#include "tls_ca.h"
#include "version.h"

/* Set by the Makefile: libfcgi has no version call. */
#ifndef CS_FCGI_VERSION
#define CS_FCGI_VERSION "unknown"
#endif
#ifndef CS_BUILD_KIND
#define CS_BUILD_KIND "dynamic, on the distribution's shared libraries"
#endif

void
cs_version_print(FILE *out)
{
	const curl_version_info_data *c = curl_version_info(CURLVERSION_NOW);

	fprintf(out, "chatstream %s\n", CS_VERSION);
	fprintf(out, "build: %s\n", CS_BUILD_KIND);
	fprintf(out,
	    "libraries: libcurl %s (%s%s, %s resolver), json-c %s, "
	    "libfcgi %s, SQLite %s, hiredis %d.%d.%d, glibc %s\n",
	    c->version, c->ssl_version != NULL ? c->ssl_version : "no TLS",
	    (c->features & CURL_VERSION_HTTP2) ? ", HTTP/2" : ", HTTP/1.1",
	    (c->features & CURL_VERSION_ASYNCHDNS) ? "threaded" : "blocking",
	    json_c_version(), CS_FCGI_VERSION, sqlite3_libversion(),
	    HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH,
	    gnu_get_libc_version());
	fprintf(out, "TLS trust: ca_file or ca_path, else %s\n",
	    cs_ca_portable() ? "the first system bundle found, else the "
	                       "bundle built in" :
	                       "libcurl's default (the system bundle)");
}
