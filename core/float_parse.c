/* placeholder: being written */
#include "core/float_parse.h"
