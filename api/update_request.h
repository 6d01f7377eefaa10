/* Parsing of POST /route/update bodies (DESIGN §5):
 *   direct:  {"user", "context": vec, "chosen": vec, "rejected": vec, "id"?, "dtype"?}
 *   event:   {"user"?, "event": "<id>", "chosen": i, "rejected": j, "id"?}
 *   list:    {"user"?, "feedback": [direct-or-event item, ...], "id"?, "dtype"?}
 * A vector is a JSON number array or a base64 string (dtype as in /score).
 * In the list form the items carry no "user"/"id" of their own (ignored if
 * present); they are applied in order, atomically. */
#ifndef MICRORM_API_UPDATE_REQUEST_H
#define MICRORM_API_UPDATE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "api/errors.h"

typedef struct {
    bool is_event;
    char *event;          /* event form: the event id (NUL-terminated) */
    int chosen_idx;       /* event form: indices into the event's responses */
    int rejected_idx;
    float *context;       /* direct form: [dc] */
    float *chosen;        /* direct form: [d] */
    float *rejected;      /* direct form: [d] */
} mr_feedback;

typedef struct {
    char *user;           /* NULL when absent: allowed only if every item is event form */
    char *id;             /* idempotency key (1..128 bytes), NULL when absent */
    mr_feedback *items;
    int n;
    bool is_list;         /* the body used "feedback": [...] */
} mr_update_body;

typedef struct {
    int d, dc;
    int max_feedback;     /* items in a "feedback" list (422 beyond) */
} mr_update_limits;

/* Parse body[0..len). Statuses and codes as mr_parse_score_body: 400
 * bad_json / bad_type / missing_field / dimension_mismatch / non_finite /
 * bad_base64 / bad_dtype / bad_user (api_user_id_valid); 422 empty / too_many
 * (feedback list), bad_pair (chosen == rejected, or a negative index; an
 * index beyond the event's responses is checked later, against the event).
 * A direct item needs all of context, chosen, rejected as vectors; an event
 * item needs event, chosen, rejected as integers; mixing the two within an
 * item is a 400 naming the field. Field paths like "feedback[2].chosen". */
int mr_parse_update_body(const char *body, size_t len, const mr_update_limits *lim,
                         mr_update_body *out, api_error *err);
void mr_update_body_free(mr_update_body *b);

#endif
