# lw_protoc_c(TARGET PROTO OUT_DIR): generates OUT_DIR/<name>.pb-c.{c,h} from PROTO (in the
# calling folder) with protoc-c at build time, compiles the .c into TARGET and links
# protobuf-c. The generated code is not ours to hold to our warning set. Callers choose the
# include directories (OUT_DIR is private to the module unless it says otherwise).
find_program(PROTOC_C protoc-c REQUIRED)
pkg_check_modules(PROTOBUF_C REQUIRED IMPORTED_TARGET libprotobuf-c)

function(lw_protoc_c target proto out_dir)
  get_filename_component(name ${proto} NAME_WE)
  file(MAKE_DIRECTORY ${out_dir})
  add_custom_command(
    OUTPUT ${out_dir}/${name}.pb-c.c ${out_dir}/${name}.pb-c.h
    COMMAND ${PROTOC_C} --c_out=${out_dir} -I${CMAKE_CURRENT_SOURCE_DIR}
            ${CMAKE_CURRENT_SOURCE_DIR}/${proto}
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${proto}
    COMMENT "protoc-c ${proto}")
  set_source_files_properties(${out_dir}/${name}.pb-c.c PROPERTIES COMPILE_OPTIONS
                              "-Wno-missing-prototypes;-Wno-error")
  target_sources(${target} PRIVATE ${out_dir}/${name}.pb-c.c)
  target_link_libraries(${target} PUBLIC PkgConfig::PROTOBUF_C)
endfunction()
