/*
 * request_ui.h — the AI SDK's useChat request (UI messages with parts),
 * translated to the native request JSON (request.h) so that the native
 * validation and every limit apply to it.  docs/protocol.md, "Vercel AI
 * SDK (useChat)".
 */
#ifndef CS_REQUEST_UI_H
#define CS_REQUEST_UI_H

#include <stddef.h>

#include "buf.h"
#include "cs.h"
#include "request.h"

/*
 * If body (len bytes) is useChat's request — a JSON object with "trigger",
 * or with "messages" whose elements carry "parts" — write the equivalent
 * native request JSON to out (bounded by out's max) and return CS_OK.
 * CS_EDONE: not useChat's (or not JSON at all): parse body as it is.
 * CS_EBADINPUT / CS_ETOOBIG (CS_FAIL_TOO_LARGE) / CS_ENOMEM: refused, err
 * filled (err may be NULL).  out is the caller's, whatever the result.
 */
enum cs_err cs_ui_request_translate(
    const char *body, size_t len, struct cs_buf *out, struct cs_reqerr *err);

#endif
