using System.Reflection;
using System.Xml.Linq;

namespace MiniGrad.Tests.Packaging;

/// <summary>
/// shared/DESIGN.md's layering, kept by test: dependencies point one way (Tensors &lt;- Backends; Tensors &lt;- Autograd &lt;- Nn),
/// Autograd and Nn name no backend, and only the MiniGrad umbrella brings the CPU backend. Checked twice: on the compiled
/// assemblies (what the code really uses) and on the project files (what a package would depend on).
/// </summary>
public class LayeringTests
{
    // Each MiniGrad assembly and the MiniGrad assemblies it may reference.
    static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["MiniGrad.Tensors"] = [],
        ["MiniGrad.Backends.Cpu"] = ["MiniGrad.Tensors"],
        ["MiniGrad.Backends.Ilgpu"] = ["MiniGrad.Tensors"],
        ["MiniGrad.Autograd"] = ["MiniGrad.Tensors"],
        ["MiniGrad.Nn"] = ["MiniGrad.Autograd", "MiniGrad.Tensors"],
        ["MiniGrad"] = ["MiniGrad.Nn", "MiniGrad.Autograd", "MiniGrad.Tensors", "MiniGrad.Backends.Cpu"],
        ["MiniGrad.Interactive"] = ["MiniGrad", "MiniGrad.Nn", "MiniGrad.Autograd", "MiniGrad.Tensors", "MiniGrad.Backends.Cpu"],
    };

    static readonly Assembly[] Assemblies =
    [
        typeof(Device).Assembly, typeof(MiniGrad.Backends.Cpu.CpuBackend).Assembly, typeof(MiniGrad.Backends.Ilgpu.IlgpuBackend).Assembly,
        typeof(Tensor).Assembly, typeof(MiniGrad.Nn.Module).Assembly, typeof(DefaultBackends).Assembly,
        typeof(MiniGrad.Interactive.MiniGradFormatters).Assembly,
    ];

    static bool IsMiniGrad(string name) => name == "MiniGrad" || name.StartsWith("MiniGrad.", StringComparison.Ordinal);

    [Fact]
    public void EachAssemblyReferencesOnlyTheLayersBelowIt()
    {
        Assert.Equal(Allowed.Keys.Order(), Assemblies.Select(a => a.GetName().Name!).Order());
        var problems = new List<string>();
        foreach (var asm in Assemblies)
        {
            string name = asm.GetName().Name!;
            foreach (var r in asm.GetReferencedAssemblies().Select(r => r.Name!).Where(IsMiniGrad))
                if (!Allowed[name].Contains(r)) problems.Add($"{name} references {r}");
        }
        Assert.Empty(problems);
    }

    [Fact]
    public void AutogradAndNnNameNoBackendType()
    {
        foreach (var asm in new[] { typeof(Tensor).Assembly, typeof(MiniGrad.Nn.Module).Assembly })
            Assert.DoesNotContain(asm.GetReferencedAssemblies(), r => r.Name!.StartsWith("MiniGrad.Backends", StringComparison.Ordinal) || r.Name!.StartsWith("ILGPU", StringComparison.Ordinal));
    }

    [Fact]
    public void EachLibraryProjectReferencesOnlyTheLayersBelowIt()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "MiniGrad.sln"))) root = root.Parent;
        Assert.SkipWhen(root is null, "the repository is not above the test program (a published copy)");
        var projects = Directory.GetFiles(Path.Combine(root!.FullName, "src"), "*.csproj", SearchOption.AllDirectories);
        Assert.Equal(Allowed.Keys.Order(), projects.Select(Path.GetFileNameWithoutExtension).Order());
        var problems = new List<string>();
        foreach (var project in projects)
        {
            string name = Path.GetFileNameWithoutExtension(project);
            var refs = XDocument.Load(project).Descendants("ProjectReference")
                .Select(e => Path.GetFileNameWithoutExtension(e.Attribute("Include")!.Value.Replace('\\', '/')));
            foreach (var r in refs)
                if (!Allowed[name].Contains(r)) problems.Add($"{name}.csproj references {r}");
            // A backend pulled in as a package would break the layering as surely as a project reference.
            var packages = XDocument.Load(project).Descendants("PackageReference").Select(e => e.Attribute("Include")?.Value ?? "");
            if (name is "MiniGrad.Tensors" or "MiniGrad.Autograd" or "MiniGrad.Nn")
                problems.AddRange(packages.Where(p => p.StartsWith("ILGPU", StringComparison.OrdinalIgnoreCase) || IsMiniGrad(p)).Select(p => $"{name}.csproj references package {p}"));
        }
        Assert.Empty(problems);
    }
}
