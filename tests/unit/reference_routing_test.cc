// RowsClearOfRoutingTies (tests/reference_routing.h): which reference rows have a routing
// near-tie of their own.
#include "reference_routing.h"

#include <gtest/gtest.h>

namespace atom::testing {
namespace {

TEST(RoutingTies, NoTieKeepsEveryRow) {
  const std::vector<float> gaps = {0.5f, 0.1f, 0.3f, 0.2f, 0.9f, 0.05f};  // 2 layers x 3 rows
  EXPECT_EQ(RowsClearOfRoutingTies(gaps.data(), 2, 3, 0.02f), std::vector<bool>(3, true));
}

TEST(RoutingTies, ATieLeavesOutItsRow) {
  const std::vector<float> gaps = {0.5f, 0.1f,   0.3f, 0.4f,   // layer 0
                                   0.2f, 0.001f, 0.6f, 0.7f};  // layer 1 (last): row 1 tied
  EXPECT_EQ(RowsClearOfRoutingTies(gaps.data(), 2, 4, 0.02f),
            (std::vector<bool>{true, false, true, true}));
}

TEST(RoutingTies, EarlierLayerTieLeavesOutItsRowOnly) {
  const std::vector<float> gaps = {0.5f, 0.1f, 0.01f, 0.4f, 0.3f,     // layer 0: row 2 tied
                                   0.2f, 0.3f, 0.6f,  0.7f, 0.001f};  // layer 1: row 4 tied
  EXPECT_EQ(RowsClearOfRoutingTies(gaps.data(), 2, 5, 0.02f),
            (std::vector<bool>{true, true, false, true, false}));
}

TEST(RoutingTies, TheBoundIsStrict) {
  const std::vector<float> gaps = {0.02f, 0.0199f};  // 1 layer x 2 rows
  EXPECT_EQ(RowsClearOfRoutingTies(gaps.data(), 1, 2, 0.02f), (std::vector<bool>{true, false}));
}

}  // namespace
}  // namespace atom::testing
