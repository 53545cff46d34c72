/*
 * json-libs-bench.c -- the measurement behind the choice of the JSON library
 * (docs/performance.md, "JSON library"): one document shaped like the report's "sites" list
 * (200,000 sites, 12 integers and an 8-frame stack each) written to /dev/null with yajl's
 * streaming generator, with jansson and with json-c (both build the whole tree first: they
 * have no streaming writer). Not built by make; compile one library at a time (jansson and
 * json-c both define json_object):
 *   gcc -O2 -DLIB_YAJL scripts/json-libs-bench.c $(pkg-config --cflags --libs yajl) -o jb
 *   gcc -O2 -DLIB_JANSSON scripts/json-libs-bench.c $(pkg-config --cflags --libs jansson) -o jb
 *   gcc -O2 -DLIB_JSONC scripts/json-libs-bench.c $(pkg-config --cflags --libs json-c) -o jb
 *   /usr/bin/time -f "%e s %M KiB" ./jb x
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#ifdef LIB_YAJL
#include <yajl/yajl_gen.h>
#endif
#ifdef LIB_JANSSON
#include <jansson.h>
#endif
#ifdef LIB_JSONC
#include <json-c/json.h>
#endif
#define NS 200000
#define NF 8
static const char *fn = "std::vector<int, std::allocator<int> >::_M_realloc_insert(int&&)";
static const char *file = "/usr/include/c++/12/bits/vector.tcc";
static const char *keys[] = {"allocations","bytes","peak_bytes","not_freed_blocks","not_freed_bytes","frees","failed_allocations","temporary","size_p50","size_p99","size_p999","size_max"};
#ifdef LIB_YAJL
static void cb(void *ctx, const char *s, size_t n){ fwrite(s,1,n,(FILE*)ctx);}
#endif
int main(int argc,char**argv){ FILE*o=fopen("/dev/null","w"); char *m=argv[1];
#ifdef LIB_YAJL
 { yajl_gen g=yajl_gen_alloc(NULL); yajl_gen_config(g,yajl_gen_print_callback,cb,o);
  yajl_gen_array_open(g);
  for(int i=0;i<NS;i++){ yajl_gen_map_open(g); for(int k=0;k<12;k++){yajl_gen_string(g,(const unsigned char*)keys[k],strlen(keys[k])); yajl_gen_integer(g,i*k+12345);} 
   yajl_gen_string(g,(const unsigned char*)"stack",5); yajl_gen_array_open(g);
   for(int f=0;f<NF;f++){ yajl_gen_map_open(g); yajl_gen_string(g,(const unsigned char*)"function",8); yajl_gen_string(g,(const unsigned char*)fn,strlen(fn));
    yajl_gen_string(g,(const unsigned char*)"file",4); yajl_gen_string(g,(const unsigned char*)file,strlen(file));
    yajl_gen_string(g,(const unsigned char*)"line",4); yajl_gen_integer(g,f*10);
    yajl_gen_string(g,(const unsigned char*)"address",7); yajl_gen_string(g,(const unsigned char*)"0x7f1234567890",14); yajl_gen_map_close(g);} 
   yajl_gen_array_close(g); yajl_gen_map_close(g);} yajl_gen_array_close(g); yajl_gen_free(g);}
#endif
#ifdef LIB_JANSSON
 { json_t*a=json_array();
  for(int i=0;i<NS;i++){ json_t*s=json_object(); for(int k=0;k<12;k++) json_object_set_new(s,keys[k],json_integer(i*k+12345));
   json_t*st=json_array(); for(int f=0;f<NF;f++){ json_t*fr=json_object(); json_object_set_new(fr,"function",json_string(fn)); json_object_set_new(fr,"file",json_string(file)); json_object_set_new(fr,"line",json_integer(f*10)); json_object_set_new(fr,"address",json_string("0x7f1234567890")); json_array_append_new(st,fr);} 
   json_object_set_new(s,"stack",st); json_array_append_new(a,s);} json_dumpf(a,o,JSON_COMPACT|JSON_PRESERVE_ORDER); json_decref(a);}
#endif
#ifdef LIB_JSONC
 { struct json_object*a=json_object_new_array();
  for(int i=0;i<NS;i++){ struct json_object*s=json_object_new_object(); for(int k=0;k<12;k++) json_object_object_add(s,keys[k],json_object_new_int64(i*k+12345));
   struct json_object*st=json_object_new_array(); for(int f=0;f<NF;f++){ struct json_object*fr=json_object_new_object(); json_object_object_add(fr,"function",json_object_new_string(fn)); json_object_object_add(fr,"file",json_object_new_string(file)); json_object_object_add(fr,"line",json_object_new_int(f*10)); json_object_object_add(fr,"address",json_object_new_string("0x7f1234567890")); json_object_array_add(st,fr);} 
   json_object_object_add(s,"stack",st); json_object_array_add(a,s);} const char*t=json_object_to_json_string_ext(a,JSON_C_TO_STRING_PLAIN); fputs(t,o); json_object_put(a);}
#endif
#ifdef LIB_JANSSON
 { json_t*a=json_array();
  for(int i=0;i<NS;i++){ json_t*s=json_object(); for(int k=0;k<12;k++) json_object_set_new(s,keys[k],json_integer(i*k+12345));
   json_t*st=json_array(); for(int f=0;f<NF;f++){ json_t*fr=json_object(); json_object_set_new(fr,"function",json_string(fn)); json_object_set_new(fr,"file",json_string(file)); json_object_set_new(fr,"line",json_integer(f*10)); json_object_set_new(fr,"address",json_string("0x7f1234567890")); json_array_append_new(st,fr);} 
   json_object_set_new(s,"stack",st); json_array_append_new(a,s);} json_dumpf(a,o,JSON_COMPACT|JSON_PRESERVE_ORDER); json_decref(a);}
#endif
#ifdef LIB_JSONC
 { struct json_object*a=json_object_new_array();
  for(int i=0;i<NS;i++){ struct json_object*s=json_object_new_object(); for(int k=0;k<12;k++) json_object_object_add(s,keys[k],json_object_new_int64(i*k+12345));
   struct json_object*st=json_object_new_array(); for(int f=0;f<NF;f++){ struct json_object*fr=json_object_new_object(); json_object_object_add(fr,"function",json_object_new_string(fn)); json_object_object_add(fr,"file",json_object_new_string(file)); json_object_object_add(fr,"line",json_object_new_int(f*10)); json_object_object_add(fr,"address",json_object_new_string("0x7f1234567890")); json_object_array_add(st,fr);} 
   json_object_object_add(s,"stack",st); json_object_array_add(a,s);} const char*t=json_object_to_json_string_ext(a,JSON_C_TO_STRING_PLAIN); fputs(t,o); json_object_put(a);}
#endif
 fclose(o); (void)m; return 0;}
