/* placeholder */
typedef int mr_placeholder_t;
