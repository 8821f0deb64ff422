// The Boost.Asio and Boost.Beast headers of the HTTP layer, in one place.
//
// Boost 1.74's Asio (asio/awaitable.hpp, reached under C++20) uses std::exchange without
// including <utility>, which g++ 12 does not pull in otherwise. Including <utility> first here,
// where a formatter cannot reorder it, keeps every includer compiling whatever its include order.
#pragma once

// clang-format off
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
// clang-format on
