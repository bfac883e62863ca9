// The CAF test runner (Debian ships no libcaf_test): exactly one TU includes the impl.
#define CAF_TEST_NO_MAIN
#include <caf/test/unit_test_impl.hpp>

int main(int argc, char** argv) { return caf::test::main(argc, argv); }
