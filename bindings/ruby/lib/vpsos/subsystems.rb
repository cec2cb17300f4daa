# frozen_string_literal: true

module Vpsos
  # Host ids handed out in blocks to containers' user namespaces,
  # persisted in a file and shared safely between processes (osctld's id
  # ranges: from 1,000,000 in blocks of 65,536 by default).
  #
  #   r = Vpsos::IdRange.open("/var/lib/vpsos/ids.json")
  #   a = r.allocate(owner: "ct101")
  #   a.id_map   # => "0:1000000:65536"
  class IdRange
    Allocation = Struct.new(:index, :count, :owner, :first_id, :id_count) do
      def id_map
        "0:#{first_id}:#{id_count}"
      end
    end

    def self.open(path, start: 1_000_000, block_size: 65_536,
                  block_count: (0xFFFF_FFFF - 1_000_000) / 65_536)
      _open(path.to_s, start, block_size, block_count)
    end

    def allocate(count = 1, owner:)
      Allocation.new(*_allocate(count, owner.to_s))
    end

    def allocate_at(index, count = 1, owner:)
      Allocation.new(*_allocate_at(index, count, owner.to_s))
    end

    # Give back the allocation starting at block `index`; what it was.
    def free(index)
      Allocation.new(*_free(index))
    end

    def list
      _list.map { |a| Allocation.new(*a) }
    end
  end

  # A cgroup on its own (v1 hierarchies or v2), as osctld manages its
  # group tree: Vpsos::Cgroup.create("osctl/pool.tank/group.default").
  class Cgroup
    def stats
      Vpsos.stats_of(_stats_json)
    end

    def set_resources(resources)
      _set_resources(JSON.generate(resources))
    end

    def resources
      JSON.parse(_resources_json, symbolize_names: true)
    end

    def kill_all(timeout: 5)
      _kill_all(timeout.to_f)
    end
  end

  # AppArmor profiles (apparmor_parser, with its cache).
  module AppArmor
    # Load (or reload) a profile; :parsed, or :unchanged when the same
    # text is loaded already.
    def self.load(name, text, dir: nil)
      _load(name, text, dir)
    end

    def self.unload(name, dir: nil)
      _unload(name, dir)
    end
  end

  # Links, bridges, veths, addresses, routes and rates over netlink (no
  # `ip` or `tc`).
  module Net
    Link = Struct.new(:index, :name, :kind)

    def self.links
      _links.map { |l| Link.new(*l) }
    end

    def self.set_up(name, up = true)
      _set_up(name, up)
    end

    # add_route("10.0.0.0/24", via: "192.0.2.1"), add_route("10.1.0.5/32", dev: "veth1")
    def self.add_route(dest, via: nil, dev: nil)
      _add_route(dest, via, dev)
    end

    # The egress rate of `name` in bits per second (nil: none).
    def self.set_rate(name, bps)
      _set_rate(name, bps)
    end
  end

  # ZFS through the zfs command, checked names, one call per batch of
  # properties; streams to and from Ruby IO objects.
  class ZFS
    def create(name, props = {})
      _create(name, props)
    end

    def destroy(name, recursive: false)
      _destroy(name, recursive)
    end

    # Properties of one or more datasets: { "tank/ct/101" => { "used" => "12345" } }.
    def get(names, *props)
      _get(Array(names), props.flatten.map(&:to_s))
    end

    def list(root, type: "filesystem", depth: nil)
      _list(root, type.to_s, depth)
    end

    def snapshot(name, recursive: false)
      _snapshot(name, recursive)
    end

    def clone(snapshot, target, props = {})
      _clone(snapshot, target, props)
    end

    # Send `snapshot` into `io` (incremental from `from`); the bytes sent.
    def send_stream(snapshot, io, from: nil, properties: false, compressed: false, raw: false,
                    large_blocks: false, intermediates: false)
      flags = { properties:, compressed:, raw:, large_blocks:, intermediates: }.select { |_, v| v }.keys.map(&:to_s)
      _send(snapshot, Vpsos.fd_of(io), from, flags)
    end

    # Receive a stream from `io` into `target`; the bytes read.
    def receive(target, io, force: false, no_mount: false, resumable: false)
      flags = { force:, no_mount:, resumable: }.select { |_, v| v }.keys.map(&:to_s)
      _receive(target, Vpsos.fd_of(io), flags)
    end

    # A container (config and `snapshot`) as one stream, for #import elsewhere.
    def export(config, snapshot, io)
      _export(Config.json_of(config), snapshot, Vpsos.fd_of(io))
    end

    def import(target, io)
      Config.new(_import(target, Vpsos.fd_of(io)))
    end
  end

  # Root filesystems as directories (the embedded default storage).
  class DirStorage
    def create_from_tar(name, io)
      _create_from_tar(name, Vpsos.fd_of(io))
    end

    # Read an export (Vpsos.export_dir) into rootfs `name`; its Config.
    def import(name, io)
      Config.new(_import(name, Vpsos.fd_of(io)))
    end
  end

  # Write a container (config and directory rootfs) to `io` as one stream.
  def self.export_dir(config, rootfs, io)
    _export_dir(Config.json_of(config), rootfs.to_s, Vpsos.fd_of(io))
  end
end
