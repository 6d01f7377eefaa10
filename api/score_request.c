/* placeholder */
#include "api/score_request.h"
