# frozen_string_literal: true

module Vpsos
  # A container's description: the same JSON schema as Rust and C
  # (docs/config-json.md), from a Hash (symbol or string keys) or JSON.
  # Validated when made: a bad one raises Vpsos::InvalidConfig whose
  # #field names it.
  #
  #   cfg = Vpsos::Config.new(rootfs: "/srv/ct1", uid_map: "0:100000:65536",
  #                           gid_map: "0:100000:65536", process: { args: ["/sbin/init"] })
  #   cfg[:hostname]   # => nil
  class Config
    def self.from_json(json)
      new(json)
    end

    def initialize(hash_or_json)
      json = hash_or_json.is_a?(String) ? hash_or_json : JSON.generate(hash_or_json)
      @json = Vpsos._config_normalize(json)
    end

    # The canonical JSON form (every field written out).
    def to_json(*_args)
      @json
    end

    # The config as a Hash with symbol keys.
    def to_h
      JSON.parse(@json, symbolize_names: true)
    end

    def [](key)
      to_h[key.to_sym]
    end

    def ==(other)
      other.is_a?(Config) && other.to_json == @json
    end

    # A copy with `changes` merged in (deeply, for nested Hashes).
    def merge(changes)
      deep = ->(a, b) { a.merge(b) { |_, x, y| x.is_a?(Hash) && y.is_a?(Hash) ? deep.(x, y) : y } }
      Config.new(deep.(to_h, JSON.parse(JSON.generate(changes), symbolize_names: true)))
    end

    # A Config, Hash or JSON as the JSON vpsos reads.
    def self.json_of(config)
      config.is_a?(Config) ? config.to_json : Config.new(config).to_json
    end
  end

  # The fd for a stdio argument: nil (/dev/null), :inherit (this
  # process's own), an Integer fd or an IO (vpsos duplicates it).
  def self.fd_of(io)
    case io
    when nil then -1
    when :inherit then -2
    when Integer then io
    when IO then io.fileno
    else
      return io.to_io.fileno if io.respond_to?(:to_io)

      raise ArgumentError, "not an IO, fd, nil or :inherit: #{io.inspect}"
    end
  end

  # A signal as its number: 15, :TERM, "SIGTERM", "term".
  def self.signo(sig)
    return sig if sig.is_a?(Integer)

    name = sig.to_s.upcase.delete_prefix("SIG")
    Signal.list.fetch(name) { raise ArgumentError, "no such signal: #{sig.inspect}" }
  end
end
