/* placeholder: being written */
#include "core/safetensors.h"
