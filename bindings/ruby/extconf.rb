# frozen_string_literal: true

# For `gem install`: build the native part with cargo through rb_sys
# (bindings/ruby/build.sh does the same without RubyGems).
require "mkmf"
require "rb_sys/mkmf"

create_rust_makefile("vpsos/vpsos_native")
