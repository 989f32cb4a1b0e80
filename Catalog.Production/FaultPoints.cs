namespace Catalog.Production;

/// <summary>The named points of the submission protocol where a test may kill the service (Production:Fault).</summary>
public static class FaultPoints
{
    public const string AfterReserve = "after-reserve", AfterSbatch = "after-sbatch", AfterRecord = "after-record";
}
