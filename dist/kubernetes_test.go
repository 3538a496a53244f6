package dist

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/xdpfw/xdpfw/pkg/rules"
)

// manifest is the part of a Kubernetes object the test reads.
type manifest struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Template struct {
			Spec struct {
				HostNetwork bool `yaml:"hostNetwork"`
				Containers  []struct {
					Command         []string `yaml:"command"`
					SecurityContext struct {
						Privileged      bool `yaml:"privileged"`
						AppArmorProfile struct {
							Type string `yaml:"type"`
						} `yaml:"appArmorProfile"`
						Capabilities struct {
							Add []string `yaml:"add"`
						} `yaml:"capabilities"`
					} `yaml:"securityContext"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []struct {
					Name     string `yaml:"name"`
					HostPath *struct {
						Path string `yaml:"path"`
					} `yaml:"hostPath"`
					ConfigMap *struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// TestKubernetes: the manifests parse, hold a DaemonSet and a ConfigMap;
// the DaemonSet runs serve on the host network with the capabilities BPF
// needs and the host's BPF filesystem, its config is the ConfigMap's, and
// that config is a valid ruleset file.
func TestKubernetes(t *testing.T) {
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in kubernetes/: %v", err)
	}
	byKind := map[string]manifest{}
	for _, f := range files {
		dec := yaml.NewDecoder(bytes.NewReader([]byte(readFile(t, f))))
		dec.KnownFields(false)
		for {
			var m manifest
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			byKind[m.Kind] = m
		}
	}
	ds, ok := byKind["DaemonSet"]
	cm, ok2 := byKind["ConfigMap"]
	if !ok || !ok2 {
		t.Fatalf("kinds %v, want a DaemonSet and a ConfigMap", slices.Collect(maps.Keys(byKind)))
	}
	pod := ds.Spec.Template.Spec
	if !pod.HostNetwork || len(pod.Containers) != 1 {
		t.Fatalf("DaemonSet: hostNetwork %v, %d containers; want the host network and one container", pod.HostNetwork, len(pod.Containers))
	}
	c := pod.Containers[0]
	caps := c.SecurityContext.Capabilities.Add
	if !c.SecurityContext.Privileged && !(slices.Contains(caps, "BPF") && slices.Contains(caps, "NET_ADMIN") && slices.Contains(caps, "SYS_ADMIN")) {
		t.Errorf("container capabilities %v: want BPF, NET_ADMIN and SYS_ADMIN (or privileged)", caps)
	}
	// The runtime's default AppArmor profile (containerd's, docker's)
	// denies creating, linking and locking under /sys/fs but cgroup: on a
	// node with AppArmor (Ubuntu's) serve could neither make the pin
	// directory, lock it nor pin into it.
	if aa := c.SecurityContext.AppArmorProfile.Type; !c.SecurityContext.Privileged && aa != "Unconfined" {
		t.Errorf("container appArmorProfile type %q: want Unconfined (or privileged), the default profile denies pinning under /sys/fs/bpf", aa)
	}
	mounts := map[string]string{} // volume name -> mount path
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	cmd := strings.Join(c.Command, " ")
	bpffs, config := false, ""
	for _, v := range pod.Volumes {
		switch {
		case v.HostPath != nil && v.HostPath.Path == "/sys/fs/bpf" && mounts[v.Name] == "/sys/fs/bpf":
			bpffs = true
		case v.ConfigMap != nil && v.ConfigMap.Name == cm.Metadata.Name:
			config = mounts[v.Name]
		}
	}
	if !bpffs {
		t.Error("the host's /sys/fs/bpf is not mounted at /sys/fs/bpf")
	}
	if config == "" || !strings.Contains(cmd, " serve --config "+config+"/") {
		t.Errorf("command %q does not serve a file of the ConfigMap %s (mounted at %q)", cmd, cm.Metadata.Name, config)
	}
	name := filepath.Base(strings.Fields(cmd[strings.Index(cmd, "--config "):])[1])
	text, ok := cm.Data[name]
	if !ok {
		t.Fatalf("ConfigMap %s has no %s", cm.Metadata.Name, name)
	}
	rs, err := rules.ParseYAML("configmap:"+name, []byte(text), rules.FileOptions{})
	if err != nil || len(rs.Interfaces) == 0 {
		t.Errorf("the ConfigMap's %s: %v (interfaces %v)", name, err, rs)
	}
}

// TestExampleConfig: the example /etc/xdpfw/xdpfw.yaml is a valid ruleset
// file listing interfaces.
func TestExampleConfig(t *testing.T) {
	rs, err := rules.ParseFile("xdpfw.yaml", rules.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Interfaces) == 0 || len(rs.Rules) == 0 {
		t.Errorf("xdpfw.yaml: %d interfaces, %d rules; the example should show both", len(rs.Interfaces), len(rs.Rules))
	}
}
