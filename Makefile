# snapkeep build.
#
#   make            build snapkeepd and snapkeep into $(BUILD) (default build/)
#   make run        build, then start snapkeepd on the embedded default root
#   make check      install test dependencies, build, run every test
#   make bench      install benchmark dependencies, run the side-by-side benchmarks
#   make fuzz       run the libFuzzer harnesses for longer (FUZZ_SECONDS=300)
#   make deps       install the Debian packages the build needs (root, idempotent)
#   make install    install binaries, man pages and packaging files (DESTDIR, PREFIX)
#   make clean
#
# Switches: V=1 shows full command lines; SANITIZE=1 builds with ASan+UBSan into
# build-asan/; WERROR=1 turns warnings into errors (CI sets it).
#
# Every directory is its own static library (libsk-<dir>.a); a binary or unit test
# links only the libraries its directory depends on (see DEPS_<dir> below), so the
# layering rules in DEVELOPERS.md are also link-time facts.

.DEFAULT_GOAL := all

SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= build-asan
else
BUILD ?= build
endif
PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
PROTOC_C ?= protoc-c

OPTFLAGS ?= -O2 -g
WARNFLAGS := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wformat=2 -Wno-missing-field-initializers
ifeq ($(WERROR),1)
WARNFLAGS += -Werror
endif
SANFLAGS :=
ifeq ($(SANITIZE),1)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPTFLAGS := -O1 -g
endif

GEN := $(BUILD)/gen
CPPFLAGS += -I. -I$(GEN) -D_GNU_SOURCE
CFLAGS += -std=gnu11 $(OPTFLAGS) $(WARNFLAGS) $(SANFLAGS) -MMD -MP
LDFLAGS += $(SANFLAGS)

# External libraries per directory.
EXT_common := -lm -lpthread
EXT_snapshot := -llmdb
EXT_io := -luring -lpthread
EXT_store := -lcurl -lcrypto -lpthread
EXT_repo := -lzstd -lcrypto -lpthread
EXT_backup := -lpthread
EXT_proto := -lprotobuf-c
EXT_plugin := -lgrpc -lgpr -linih -lpthread -lsystemd -lmicrohttpd
EXT_cli := -linih -lgrpc -lgpr -ljansson
EXT_container := -larchive -ljansson -lpthread
EXT_auto := -llmdb -lpthread
EXT_rpc := -lgrpc -lgpr -lprotobuf-c

# Which of our libraries each directory may use (itself first, leaves last).
DEPS_common := common
DEPS_snapshot := snapshot common
DEPS_io := io common
DEPS_store := store common
DEPS_repo := repo store common
DEPS_backup := backup repo store io common
DEPS_proto := proto
DEPS_container := container snapshot backup repo store io common
DEPS_auto := auto container snapshot backup repo store io common
DEPS_rpc := rpc proto common
DEPS_plugin := plugin rpc proto auto container snapshot backup repo store io common
DEPS_cli := cli rpc proto container snapshot backup repo store io common

# Each room's public headers: the only ones another room may include (and only
# a room whose DEPS list this one). Every other header is private to its room,
# as is any *-internal.h. tests/unit, tests/fuzz and tests/lib may include any.
PUBLIC_common := common/hugemap.h common/macro.h common/le.h common/fsutil.h common/dirstack.h common/utf8.h common/log.h common/inomap.h common/array.h common/metrics.h common/foreground.h common/pace.h
PUBLIC_snapshot := snapshot/snapshotter.h snapshot/filter.h snapshot/key.h
PUBLIC_io := io/ioengine.h io/ioreader.h
PUBLIC_store := store/backend.h store/backend-s3.h
PUBLIC_repo := repo/repo.h repo/tree.h repo/manifest-codec.h repo/keyring.h repo/crypto.h \
  repo/chunker.h repo/lock.h repo/trash.h repo/filehash.h
PUBLIC_backup := backup/lease.h backup/engine.h backup/backup.h backup/restore.h backup/check.h backup/forget.h \
  backup/prune.h backup/manifest.h backup/browse.h backup/treewalk.h backup/report.h
PUBLIC_container := container/capture.h container/record.h container/k8s.h container/image-config.h container/selector.h container/oci-export.h container/overlay-merge.h
PUBLIC_auto := auto/policy.h auto/cron.h auto/schedule.h auto/state.h auto/scheduler.h
PUBLIC_rpc := rpc/client.h
PUBLIC_plugin :=
PUBLIC_cli :=

ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-7s %s\n' $(1) $(2)
endif

LIBDIRS := common snapshot io store repo backup container auto rpc plugin cli
# main() lives in plugin/main.c and cli/main.c; everything else goes into libraries.
MAINS := plugin/main.c cli/main.c
lib_srcs = $(filter-out $(MAINS),$(wildcard $(1)/*.c))

# --- protobuf ----------------------------------------------------------------
PROTOS := $(wildcard proto/*.proto)
WKT := google/protobuf/timestamp google/protobuf/field_mask google/protobuf/empty
PROTO_C := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(PROTOS)) $(WKT:%=$(GEN)/%.pb-c.c)
PROTO_H := $(PROTO_C:.c=.h)

$(GEN)/google/protobuf/%.pb-c.c $(GEN)/google/protobuf/%.pb-c.h: /usr/include/google/protobuf/%.proto
	$(call say,PROTOC,$<)
	@mkdir -p $(GEN)
	$(Q)$(PROTOC_C) --c_out=$(GEN) -I/usr/include $<

$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: proto/%.proto
	$(call say,PROTOC,$<)
	@mkdir -p $(GEN)
	$(Q)$(PROTOC_C) --c_out=$(GEN) -Iproto -I/usr/include $<

# --- objects and libraries -----------------------------------------------------
$(BUILD)/obj/%.o: %.c | $(PROTO_H)
	$(call say,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/gen/%.o: $(GEN)/%.c | $(PROTO_H)
	$(call say,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-missing-prototypes -c -o $@ $<

define lib_rule
$(BUILD)/libsk-$(1).a: $$(patsubst %.c,$(BUILD)/obj/%.o,$$(call lib_srcs,$(1)))
	$$(call say,AR,$$@)
	@mkdir -p $$(dir $$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach d,$(LIBDIRS),$(eval $(call lib_rule,$(d))))

$(BUILD)/libsk-proto.a: $(patsubst $(GEN)/%.c,$(BUILD)/obj/gen/%.o,$(PROTO_C))
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# libs_for DIR -> archive paths; ext_for DIR -> external -l flags
libs_for = $(foreach d,$(DEPS_$(1)),$(BUILD)/libsk-$(d).a)
ext_for = $(sort $(foreach d,$(DEPS_$(1)),$(EXT_$(d))))

# --- binaries ------------------------------------------------------------------
$(BUILD)/snapkeepd: $(BUILD)/obj/plugin/main.o $(call libs_for,plugin)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< -Wl,--start-group $(call libs_for,plugin) -Wl,--end-group $(call ext_for,plugin)

$(BUILD)/snapkeep: $(BUILD)/obj/cli/main.o $(call libs_for,cli)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< -Wl,--start-group $(call libs_for,cli) -Wl,--end-group $(call ext_for,cli)

BINS := $(BUILD)/snapkeepd $(BUILD)/snapkeep

# --- test tools: tests/tools/<name>.c -> $(BUILD)/tools/<name>, linked like cli/.
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRCS))
$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(call libs_for,cli)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< -Wl,--start-group $(call libs_for,cli) -Wl,--end-group $(call ext_for,cli)

# --- unit tests: tests/unit/test-<module>.c links the libraries of the directory
# holding <module>.c (or of <dir> itself for test-<dir>.c), plus cmocka.
UNIT_SRCS := $(wildcard tests/unit/test-*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
# UNIT_DIR_<module> overrides that, for a test that needs a room above its module's.
UNIT_DIR_backend-local := repo
UNIT_DIR_index-model := repo
UNIT_DIR_index-bench := repo
UNIT_DIR_repo-readahead := repo
unit_dir = $(or $(UNIT_DIR_$(1)),$(patsubst %/,%,$(firstword $(dir $(wildcard $(addsuffix /$(1).c,$(LIBDIRS)))))),$(filter $(1),$(LIBDIRS)),plugin)

define unit_rule
$(BUILD)/tests/$(1): $(BUILD)/obj/tests/unit/$(1).o $$(call libs_for,$$(call unit_dir,$(2))) $(BUILD)/obj/tests/lib/testutil.o
	$$(call say,LD,$$@)
	@mkdir -p $$(dir $$@)
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$< $(BUILD)/obj/tests/lib/testutil.o -Wl,--start-group $$(call libs_for,$$(call unit_dir,$(2))) -Wl,--end-group $$(call ext_for,$$(call unit_dir,$(2))) -lcmocka
endef
$(foreach t,$(UNIT_SRCS),$(eval $(call unit_rule,$(basename $(notdir $(t))),$(patsubst test-%,%,$(basename $(notdir $(t)))))))

# --- fuzz harnesses: tests/fuzz/fuzz-<name>.c, built with clang's libFuzzer into
# $(BUILD)/fuzz/. They link the same libraries, rebuilt with coverage.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_SECONDS ?= 300

.PHONY: deb deps-deb image manifests all run check check-build bench fuzz fuzz-build deps deps-check deps-bench install clean unit layering layering-facts

all: $(BINS) $(TOOL_BINS)

deps:
	@packaging/install-deps.sh build

deps-check:
	@packaging/install-deps.sh build check deb

deps-bench:
	@packaging/install-deps.sh build check deb bench

unit: $(UNIT_BINS)

# The layering rules of DEVELOPERS.md ("Layering"), checked against the facts
# below: DEPS_*, PUBLIC_*, EXT_*, LIBDIRS, MAINS and the binaries' link lines.
layering:
	@tests/check-layering.sh

# The facts tests/check-layering.py reads (one per line; builds nothing). Rooms
# are the libraries plus proto (the generated *.pb-c.h).
# $(info) prints without starting a shell: the check runs this often.
layering-facts:
	$(info ROOMS $(LIBDIRS) proto)
	$(info MAINS $(MAINS))
	$(foreach v,$(sort $(filter DEPS_%,$(.VARIABLES))),$(info DEPS $(v:DEPS_%=%) $($(v))))
	$(foreach v,$(sort $(filter PUBLIC_%,$(.VARIABLES))),$(info PUBLIC $(v:PUBLIC_%=%) $($(v))))
	$(foreach d,$(LIBDIRS) proto,$(info EXT $(d) $(call ext_for,$(d))))

run: deps all
	@tests/lib/run-daemon.sh $(BUILD)/snapkeepd

fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/fuzz CC=clang SANITIZE=0 \
	  OPTFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
	  LDFLAGS="-fsanitize=fuzzer,address,undefined" fuzz-bins

fuzz-bins: $(patsubst tests/fuzz/%.c,$(BUILD)/%,$(FUZZ_SRCS))

# A harness links the libraries of the directories FUZZ_DIRS_<name> lists
# (default: repo), as a unit test links its module's.
FUZZ_DIRS_fuzz-filter := snapshot
FUZZ_DIRS_fuzz-record := container
FUZZ_DIRS_fuzz-config := plugin
FUZZ_DIRS_fuzz-pbcheck := plugin
FUZZ_DIRS_fuzz-tomledit := cli
fuzz_dirs = $(or $(FUZZ_DIRS_$(1)),repo)
fuzz_libs = $(foreach d,$(call fuzz_dirs,$(1)),$(call libs_for,$(d)))
fuzz_ext = $(sort $(foreach d,$(call fuzz_dirs,$(1)),$(call ext_for,$(d))))

define fuzz_rule
$(BUILD)/$(1): $(BUILD)/obj/tests/fuzz/$(1).o $$(call fuzz_libs,$(1))
	$$(call say,LD,$$@)
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$< -Wl,--start-group $$(call fuzz_libs,$(1)) -Wl,--end-group $$(call fuzz_ext,$(1))
endef
$(foreach t,$(FUZZ_SRCS),$(eval $(call fuzz_rule,$(basename $(notdir $(t))))))

fuzz: deps-check fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run-fuzz.sh $(BUILD)/fuzz

# check builds two trees: build/ (optimised, used by integration tests and
# benchmarks) and build-asan/ (ASan+UBSan; unit tests and the load test run there).
check-build: deps-check
	@$(MAKE) --no-print-directory SANITIZE=0 BUILD=build all
	@$(MAKE) --no-print-directory SANITIZE=1 BUILD=build-asan all unit
	@$(MAKE) --no-print-directory BUILD=build fuzz-build

check: check-build layering
	@BUILD_DIR=$(abspath build) ASAN_BUILD_DIR=$(abspath build-asan) tests/run-all.sh

bench: deps-bench
	@$(MAKE) --no-print-directory SANITIZE=0 BUILD=build all
	@BUILD_DIR=$(abspath build) bench/run-all.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0755 $(BUILD)/snapkeepd $(BUILD)/snapkeep $(DESTDIR)$(PREFIX)/bin/
	-install -m 0644 docs/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/ 2>/dev/null
	-install -m 0644 docs/man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/ 2>/dev/null
	install -d $(DESTDIR)/lib/systemd/system
	sed 's#^ExecStart=/usr/local/bin/#ExecStart=$(PREFIX)/bin/#' packaging/snapkeepd.service \
	  >$(DESTDIR)/lib/systemd/system/snapkeepd.service
	chmod 0644 $(DESTDIR)/lib/systemd/system/snapkeepd.service
	install -D -m 0644 packaging/snapkeepd.conf $(DESTDIR)/etc/snapkeep/snapkeepd.conf

# The Debian package, with debhelper (packaging/debian/), from a copy of the
# tracked tree (git ls-files: no build output, no local files) with debian/ at
# its top: build/deb/snapkeep_<version>_<arch>.deb, then lintian's verdict.
DEB_VERSION = $(shell dpkg-parsechangelog -l packaging/debian/changelog -S Version 2>/dev/null)
deb: deps-deb
	@rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/src
	@git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t $(BUILD)/deb/src
	@cp -r packaging/debian $(BUILD)/deb/src/debian
	cd $(BUILD)/deb/src && dpkg-buildpackage -b -us -uc --no-sign >../build.log 2>&1 || { tail -40 ../build.log; exit 1; }
	@ls $(BUILD)/deb/*.deb
	lintian --fail-on error $(BUILD)/deb/snapkeep_$(DEB_VERSION)_*.deb

# The container image (an OCI archive, offline) and the DaemonSet, both from
# packaging/kubernetes/snapkeep.json; `make manifests` regenerates the
# checked-in daemonset.yaml and image.json after editing it.
image: all
	packaging/kubernetes/build-image.sh $(BUILD) $(BUILD)/snapkeepd-image.tar

manifests:
	python3 packaging/kubernetes/generate.py packaging/kubernetes/snapkeep.json packaging/kubernetes

deps-deb:
	@packaging/install-deps.sh build deb

clean:
	rm -rf build build-asan

.SECONDARY:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
