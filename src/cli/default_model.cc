#include "cli/commands.h"

namespace atom::cli {

std::string DefaultModelDir() { return ATOM_DEFAULT_MODEL_DIR; }

}  // namespace atom::cli
