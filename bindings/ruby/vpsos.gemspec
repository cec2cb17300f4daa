# frozen_string_literal: true

# The Ruby binding as a gem, for where RubyGems is reachable: the native
# part builds with rb_sys's cargo builder (extconf.rb). Here, without
# RubyGems, bindings/ruby/build.sh builds the same extension with cargo
# and `ruby -I bindings/ruby/lib` loads it. The crate depends on
# vpsos-core by path, so the gem builds from a checkout of the repository.
require_relative "lib/vpsos/version"

Gem::Specification.new do |spec|
  spec.name = "vpsos"
  spec.version = Vpsos::VERSION
  spec.summary = "System containers (systemd, OpenRC, runit as PID 1) from Ruby, through the vpsos library"
  spec.description = "Ruby binding of vpsos, an embeddable Linux system-container runtime: " \
                     "containers, exec, consoles, cgroups, netlink, ZFS, AppArmor and id ranges " \
                     "without lxc-* binaries or hook scripts."
  spec.license = "Apache-2.0"
  spec.authors = ["vpsos developers"]
  spec.homepage = "https://example.invalid/vpsos"
  spec.required_ruby_version = ">= 3.1"
  spec.files = Dir["lib/**/*.rb", "src/**/*.rs", "Cargo.toml", "Cargo.lock", "extconf.rb", "README.md"]
  spec.require_paths = ["lib"]
  spec.extensions = ["extconf.rb"]
  spec.add_dependency "rb_sys", "~> 0.9"
  spec.add_development_dependency "minitest", "~> 5.17"
end
