# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test tooling: containers.podman.podman with pipelining.

The podman connection runs every module with four `podman exec` calls (make a temp dir, chmod,
run, remove), about 0.3 s each here. Its `exec` passes no `-i`, so a module cannot be fed on
stdin, and the plugin declares pipelining unsupported. With `-i` added whenever there is input,
pipelining works: one `podman exec -i <container> python3` per module. The Molecule scenarios
of this repository use it through ANSIBLE_PIPELINING and ansible_connection: iotsec_podman.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
    author: iotsec.tls contributors
    name: iotsec_podman
    short_description: containers.podman.podman, with pipelining (podman exec -i)
    description:
        - Test tooling of iotsec.tls. Like containers.podman.podman, but passes module input on stdin.
    options:
      remote_addr:
        description:
          - The ID of the container you want to access.
        default: inventory_hostname
        vars:
          - name: ansible_host
          - name: inventory_hostname
          - name: ansible_podman_host
      remote_user:
        description:
            - User in the container.
        ini:
          - section: defaults
            key: remote_user
        env:
          - name: ANSIBLE_REMOTE_USER
        vars:
          - name: ansible_user
      podman_extra_args:
        description:
          - Extra arguments to pass to the podman command line.
        default: ''
        ini:
          - section: defaults
            key: podman_extra_args
        vars:
          - name: ansible_podman_extra_args
        env:
          - name: ANSIBLE_PODMAN_EXTRA_ARGS
      podman_executable:
        description:
          - Executable for podman command.
        default: podman
        vars:
          - name: ansible_podman_executable
        env:
          - name: ANSIBLE_PODMAN_EXECUTABLE
"""

from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection


class Connection(PodmanConnection):
    """containers.podman.podman with `podman exec -i` when a command has input."""

    transport = "iotsec_podman"
    has_pipelining = True

    def _podman(self, cmd, cmd_args=None, in_data=None, use_container_id=True):
        if in_data is not None and isinstance(cmd, list) and cmd[:1] == ["exec"]:
            cmd = ["exec", "-i"] + cmd[1:]
        return super(Connection, self)._podman(cmd, cmd_args, in_data, use_container_id)
