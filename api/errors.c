/* placeholder */
#include "api/errors.h"
