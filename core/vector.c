/* placeholder: being written */
#include "core/vector.h"
