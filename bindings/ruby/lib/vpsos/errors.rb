# frozen_string_literal: true

module Vpsos
  # Every error vpsos raises. `kind` is the stable ErrorKind as a Symbol
  # (:invalid_config, :not_found, …), `errno` the errno behind it (or nil),
  # `stage` where a container's setup failed (:mount, :pivot_root, … or
  # nil) and `field` the config field or argument it is about
  # ("process.args", "mounts[1]" or nil).
  #
  #   begin
  #     rt.run("ct1", config)
  #   rescue Vpsos::InvalidConfig => e
  #     warn "#{e.field}: #{e.message}"
  #   end
  class Error < StandardError
    attr_reader :kind, :errno, :stage, :field

    def initialize(message = nil, kind = :unknown, errno = nil, stage = nil, field = nil)
      super(message)
      @kind = kind
      @errno = errno
      @stage = stage
      @field = field
    end
  end

  # The config or an argument is invalid; #field names it.
  class InvalidConfig < Error; end
  # No such container, file or object.
  class NotFound < Error; end
  # It exists already.
  class AlreadyExists < Error; end
  # Not permitted.
  class PermissionDenied < Error; end
  # The host (kernel, tools) lacks what it needs.
  class Unsupported < Error; end
  # The container is in the wrong state, or another caller holds it.
  class Busy < Error; end
  # Setting up the container's process failed; #stage says where.
  class ChildError < Error; end
  # A system call failed; #errno says why.
  class IOError < Error; end
  # An external command (zfs, apparmor_parser) failed; the message has its stderr.
  class CommandError < Error; end
  # Cancelled, or the time allowed ran out.
  class Cancelled < Error; end
end
