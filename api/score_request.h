/* Parsing of POST /score bodies (single and {"batch": [...]}) into decoded
 * float vectors, fast: the vector-bearing bodies are large (80-170 KB), so
 * this uses api/json_reader (a pull parser over core/float_parse) rather
 * than building a jansson tree. Unknown fields are ignored. */
#ifndef MICRORM_API_SCORE_REQUEST_H
#define MICRORM_API_SCORE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "api/errors.h"

typedef struct {
    char *user;          /* NULL when absent */
    char *event;         /* caller-chosen event id, NULL when absent */
    float *context;      /* [dc] */
    float *responses;    /* [n * d], row-major */
    int n;
    int (*pairs)[2];     /* indices into responses, validated < n and i != j */
    int n_pairs;
    bool include_heads;
} mr_score_req;

typedef struct {
    mr_score_req *items;
    int n;
    bool is_batch;       /* body was {"batch": [...]} */
} mr_score_body;

typedef struct {
    int d, dc;           /* the model's dimensions */
    int max_responses;   /* per request (422 beyond) */
    int max_batch;       /* items in a batch (422 beyond) */
    int max_pairs;       /* per request (422 beyond) */
} mr_score_limits;

/* Parse body[0..len). On failure fills err (400 for malformed JSON, wrong
 * types, dimensions, non-finite numbers, bad base64; 422 for empty or too
 * many responses/items, bad pair indices) naming the field, e.g.
 * "batch[3].responses[2]: expected 3072 values, got 3071", and leaves *out
 * empty. "dtype" ("float32" | "bfloat16" | "float16") applies to the base64
 * vectors of its request; in a batch, an item's dtype overrides the outer. */
int mr_parse_score_body(const char *body, size_t len, const mr_score_limits *lim,
                        mr_score_body *out, api_error *err);
void mr_score_body_free(mr_score_body *b);

#endif
