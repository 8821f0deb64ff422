// The chat page served at `GET /`: one self-contained HTML document (no build step, no external
// resources) that talks to this server's /v1/chat/completions, streams the reply and shows the
// model's reasoning apart from its answer.
#pragma once

#include <string_view>

namespace atom {

std::string_view ChatPageHtml();

}  // namespace atom
