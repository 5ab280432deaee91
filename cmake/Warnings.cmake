# One warnings set for every target of the project.
set(FL_WARNINGS -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes
    -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wvla -Wundef
    -Wno-unused-parameter)
if(FL_WERROR)
  list(APPEND FL_WARNINGS -Werror)
endif()
add_compile_options("$<$<COMPILE_LANGUAGE:C>:${FL_WARNINGS}>")

if(FL_FUZZ)
  # Coverage for libFuzzer in every library the targets link, plus ASan/UBSan.
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "FL_FUZZ needs clang: CC=clang cmake -DFL_FUZZ=ON ...")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
elseif(FL_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
