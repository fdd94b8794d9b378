// A shared library built without HMR_MODULE: the loader must refuse it by name.
extern "C" int hmr_test_plain_function() { return 42; }
