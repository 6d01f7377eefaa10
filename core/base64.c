/* placeholder: being written */
#include "core/base64.h"
