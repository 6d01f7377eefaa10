/* placeholder: being written */
#include "core/model.h"
