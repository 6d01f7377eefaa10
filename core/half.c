/* placeholder: being written */
#include "core/half.h"
